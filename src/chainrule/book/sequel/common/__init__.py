"""The sequel's `common` package, served by chainrule (see chainrule.book.sequel).

Under `chainrule book run` on a checkout of *Deep Learning from Scratch 2* these modules
are what `import common.time_layers` and friends find; elsewhere they are plain modules
of chainrule (`chainrule.book.sequel.common.time_layers`) and shadow nothing.
"""
