"""The book's `common` package, served by chainrule (see chainrule.book).

Under `chainrule book run` (or inside `chainrule.book.book_modules()`) these modules are
what `import common.layers` and friends find; elsewhere they are plain modules of
chainrule (`chainrule.book.common.layers`) and shadow nothing of the user's.
"""
