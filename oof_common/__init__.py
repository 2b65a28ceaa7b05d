"""Small pieces shared by the project's three packages (``oof_store``, ``base_models``, ``blend``).

Nothing heavy is imported when it is (``softmax`` imports numpy, ``oof_common.cli`` rich,
where used), so the command lines start fast and the blending algorithms can use it without
importing the store: ``core`` holds the task names, the one ``softmax`` and the BLAS-thread
limit; ``cli`` holds what every command-line interface shares; ``lazy`` the packages' names
imported on first use.
"""
