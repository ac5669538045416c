"""The book's `dataset` package, served by chainrule (see chainrule.book)."""
