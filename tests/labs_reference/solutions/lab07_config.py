# The solutions of labs/lab07_config.py: its TODO functions, done. The grader self-tests
# build the reference lab by inserting these before the lab's experiments, so
# the reference cannot drift from the lab students get.


def _typed(text: str):
    """One value typed by its spelling (the rules of parse_override, in their order)."""
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1].strip()
        return [_typed(part) for part in inner.split(",")] if inner else []
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    # int before float: float("3") reads too, and epochs=3 means the int
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_override(item: str) -> tuple:
    """``"key.sub=value"`` -> ``("key.sub", value)``, the value typed by its spelling.

    >>> parse_override("train.epochs=3"), parse_override("optim.lr = 1e-3")
    (('train.epochs', 3), ('optim.lr', 0.001))
    >>> parse_override("model.hidden=[64, 32]"), parse_override("data.augment=True")
    (('model.hidden', [64, 32]), ('data.augment', True))
    >>> parse_override('name="007"'), parse_override("note=a=b")
    (('name', '007'), ('note', 'a=b'))
    """
    if not isinstance(item, str):
        raise TypeError(f"parse_override(): an override is a str 'key=value', got "
                        f"{type(item).__name__} {item!r}")
    key, sep, text = item.partition("=")  # the first "=": a value may hold another
    key = key.strip()
    if not sep:
        raise ValueError(f"override {item!r} has no '='\nhint: key=value, e.g. "
                         "train.epochs=3")
    if not all(part.isidentifier() for part in key.split(".")):
        raise ValueError(f"override {item!r}: {key!r} is not a dotted key\nhint: names "
                         "joined by dots, e.g. optim.lr")
    return key, _typed(text)


def apply_overrides(config: dict, overrides) -> dict:
    """A deep copy of ``config`` with each ``"key.sub=value"`` of ``overrides`` set.

    >>> base = {"seed": 0, "optim": {"name": "sgd", "lr": 0.1}}
    >>> apply_overrides(base, ["optim.lr=0.01", "seed=3"])
    {'seed': 3, 'optim': {'name': 'sgd', 'lr': 0.01}}
    >>> base["optim"]["lr"]
    0.1
    >>> apply_overrides(base, ["optim.lrr=0.01"])
    Traceback (most recent call last):
    ...
    ValueError: unknown key 'optim.lrr'; did you mean 'optim.lr'?
    """
    out = copy.deepcopy(config)  # the caller's defaults never change
    for item in overrides:
        key, value = parse_override(item)
        parts = key.split(".")
        node = out
        for depth, part in enumerate(parts):
            where = ".".join(parts[:depth])
            if part not in node:
                close = difflib.get_close_matches(part, list(node), n=1)
                if close:
                    guess = f"{where}.{close[0]}" if where else close[0]
                    raise ValueError(f"unknown key {key!r}; did you mean {guess!r}?")
                raise ValueError(f"unknown key {key!r}; {where or 'the config'} has: "
                                 f"{', '.join(sorted(node))}")
            if depth == len(parts) - 1:
                if isinstance(node[part], dict):
                    raise ValueError(f"override {key!r} would replace the table {key!r} by "
                                     f"a value\nhint: set its keys, e.g. {key}."
                                     f"{next(iter(node[part]), 'key')}=...")
                node[part] = value
            else:
                if not isinstance(node[part], dict):
                    here = ".".join(parts[:depth + 1])
                    raise ValueError(f"override {key!r}: {here!r} is a value, not a table")
                node = node[part]
    return out


def config_hash(config: dict) -> str:
    """The first 12 hex digits of the sha256 of ``config``'s canonical JSON.

    >>> a = config_hash({"seed": 0, "optim": {"lr": 0.1, "name": "sgd"}})
    >>> a == config_hash({"optim": {"name": "sgd", "lr": 0.1}, "seed": 0}), len(a)
    (True, 12)
    >>> config_hash({"lr": 0.1 + 0.2}) == config_hash({"lr": 0.3})
    False
    """
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def run_dir_name(config: dict, when) -> str:
    """``<YYYYmmdd-HHMMSS>-<safe name>-<config_hash[:8]>`` for a run starting at ``when``.

    >>> when = datetime.datetime(2025, 1, 2, 3, 4, 5)
    >>> run_dir_name({"name": "digits mlp/2"}, when)[:-8]
    '20250102-030405-digits-mlp-2-'
    >>> run_dir_name({}, when)[16:19]
    'run'
    """
    allowed = set(string.ascii_letters + string.digits + "-_")
    name = "".join(c if c in allowed else "-" for c in str(config.get("name") or "run"))
    return f"{when.strftime('%Y%m%d-%H%M%S')}-{name}-{config_hash(config)[:8]}"


def grid_points(grid: dict) -> list:
    """Every combination of the grid's values, the last key varying fastest.

    >>> grid_points({"lr": [0.1, 0.01], "hidden": [32, 64]})  # doctest: +NORMALIZE_WHITESPACE
    [{'lr': 0.1, 'hidden': 32}, {'lr': 0.1, 'hidden': 64},
     {'lr': 0.01, 'hidden': 32}, {'lr': 0.01, 'hidden': 64}]
    >>> grid_points({})
    [{}]
    """
    for key, values in grid.items():
        if not isinstance(values, (list, tuple)):
            raise TypeError(f"grid_points(): the values of {key!r} must be a list, got "
                            f"{type(values).__name__} {values!r}")
        if not values:
            raise ValueError(f"grid_points(): {key!r} has no values: the grid would have "
                             "no points")
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True))
            for combo in itertools.product(*(grid[k] for k in keys))]


def seed_everything(seed: int) -> dict:
    """Seed tinytorch and Python's ``random`` with ``seed``; return the run's generators.

    >>> gens = seed_everything(0)
    >>> sorted(gens), gens["model"] is tt.random.generator()
    (['crop', 'flip', 'model', 'shuffle', 'split'], True)
    >>> gens["shuffle"].permutation(5).tolist() == \\
    ...     np.random.default_rng([0, 1]).permutation(5).tolist()
    True
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed_everything(): the seed is an int, got "
                        f"{type(seed).__name__} {seed!r}")
    if seed < 0:
        raise ValueError(f"seed_everything(): the seed must be >= 0, got {seed}")
    model = tt.manual_seed(seed)
    random.seed(seed)
    # [seed, k]: numpy's SeedSequence makes these independent of one another and of
    # default_rng(seed); the k are those of tinytorch's build, so the streams are its own.
    streams = {"shuffle": 1, "crop": 2, "flip": 3, "split": 4}
    return {"model": model, **{name: np.random.default_rng([seed, k])
                               for name, k in streams.items()}}
