"""Store-level workflows: open the store, run an algorithm, return a result.

The floor between the store (:mod:`oof_store`) and the algorithms on arrays
(:mod:`blend.search`, :mod:`blend.optimize`, :mod:`blend.stack`, :mod:`blend.compare`,
:mod:`blend.report`, :mod:`blend.ordinal`). A notebook calls these functions; the CLI
modules (:mod:`blend.cli`) only parse arguments, call them and print. Nothing here imports
:mod:`blend.cli`.
"""
