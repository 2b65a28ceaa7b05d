"""Small pieces shared by the project's three packages (``oof_store``, ``base_models``, ``blend``).

It imports numpy only (``oof_common.cli`` adds rich), so the blending algorithms can use it
without importing the store: ``core`` holds the task names, the one ``softmax`` and the BLAS-thread limit;
``cli`` holds what every command-line interface shares.
"""
