"""The parts of a study: one module each, run in the order of :data:`nidslab.study.registry.PARTS`.

How to add a part (e.g. ``unseen_networks``):

1. Write ``src/nidslab/study/parts/unseen_networks.py`` with:

   - ``NAME = "unseen_networks"``: its study-file table and its key in results.json;
   - ``NEEDS = ("experiments",)``: the parts whose results it reads (``ctx.needs[name]``: their typed
     results, None when not run); they must come before it in the registry;
   - ``CACHE = "part"`` (its result is cached under a key of :func:`cache_settings`, the study-wide settings
     and the data), ``"self"`` (it calls ``ctx.cached(unit, settings, compute)`` for each unit itself) or
     ``"none"`` (never cached);
   - ``Config``: a frozen dataclass with ``TABLE = NAME``, its keys as fields with defaults, checks in
     ``__post_init__`` (:func:`nidslab.study.config.need`), ``check(study)`` for references to other parts,
     ``quick(q)`` for ``--quick``; optionally a ``from_table(table)`` classmethod when a table is not a
     flat list of its fields (see ``regression``). ``Config = None``: no table, the part runs in every study;
   - ``Result``: a dataclass; its fields (with :func:`nidslab.study.results.doc` text) are the part's
     layout in results.json and in docs/results-schema.md;
   - ``cache_settings(cfg, ctx)``: everything besides the data that determines the result (JSON-able);
   - ``run(cfg, ctx) -> Result``: ``ctx`` is a :class:`nidslab.study.context.Context` (prepared data,
     executor, progress, the needed parts' results);
   - ``render(result, results) -> (blocks, figures)``: its section of the report, from the result alone
     (``results``: the whole results.json, for the rare cross-reference).

2. Add the module to :data:`nidslab.study.registry.PARTS` (one line, where it should run and appear).

3. Run ``python -m nidslab.study.schema_doc`` to rewrite docs/results-schema.md (a test checks it).
"""
