"""duplexkit.recipes: SALMONN-omni's training stages (coming: issue 10), one file per stage plus
``recipes/configs/<size>/<stage>.yaml``, run as ``duplexkit train <stage> --config FILE key=value ...``.
Built on the floor (:mod:`datagen.common`: config grammar, atomic directories, run pinning, registries)."""
