"""Which engine runs the analytics' Ibis expressions: embedded DuckDB (the default) or Apache Spark.

Why one module: the relational work (the customer summary behind RFM and CLV, basket item and pair
counts, the KPI aggregates) is written once, as Ibis expressions (`features.summary_expr`,
`basket.counts`, `analytics.kpis`). Only the connection differs between a laptop and a cluster, so only
the connection is chosen here; no expression is written twice.

* ``duckdb``: in process, nothing to set up; right up to the hundreds of millions of rows one machine
  holds.
* ``spark``: a `SparkSession` (PySpark, Java 17+). Under ``spark-submit`` or in a notebook the session
  already there is used, master and all; otherwise ``LOYALTY_SPARK_MASTER`` (or ``master=``) names the
  cluster, and without it Spark runs in local mode on every core (``local[*]``).

The engine is asked for by ``--engine`` on the CLI or by the ``LOYALTY_ANALYTICS_ENGINE`` setting.
docs/analytics-spark.md shows a 100-million-transaction chain on a cluster.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from loyalty.analytics.errors import InputError

if TYPE_CHECKING:
    import ibis
    import ibis.expr.types as ir

Engine = Literal["duckdb", "spark"]
ENGINES: tuple[str, ...] = get_args(Engine)
#: the setting that picks the engine when the caller does not (default: duckdb)
ENGINE_SETTING = "LOYALTY_ANALYTICS_ENGINE"
#: the Spark master when no session is running and none is given (default: local[*])
MASTER_SETTING = "LOYALTY_SPARK_MASTER"

#: what a session this module starts sets, unless the caller's `conf` says otherwise: no console
#: progress bars (they would garble the CLI's output) and no web UI port taken on a laptop
_SPARK_DEFAULTS = {"spark.ui.showConsoleProgress": "false", "spark.ui.enabled": "false"}


def engine_name(engine: str | None = None) -> Engine:
    """The engine asked for, else the setting's, else duckdb; an unknown name is an input error."""
    name = (engine or os.environ.get(ENGINE_SETTING) or "duckdb").strip().lower()
    if name not in ENGINES:
        raise InputError(f"unknown analytics engine {name!r} (use {' or '.join(ENGINES)})")
    return name  # type: ignore[return-value]


def connect(
    engine: str | None = None, *, master: str | None = None, conf: Mapping[str, str] | None = None
) -> ibis.BaseBackend:
    """An Ibis connection on the chosen engine (see the module's docstring for how each is found)."""
    if engine_name(engine) == "duckdb":
        from loyalty.analytics.features import connect as duckdb_connect

        return duckdb_connect()
    return spark_connect(master=master, conf=conf)


def spark_connect(*, master: str | None = None, conf: Mapping[str, str] | None = None) -> ibis.BaseBackend:
    """Ibis on the running Spark session, or on a new one (``master``, the setting, or ``local[*]``)."""
    try:
        import ibis
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise InputError(
            "the spark engine needs PySpark and Java 17+: pip install 'ibis-framework[pyspark]'"
        ) from exc
    session = SparkSession.getActiveSession()
    if session is None or master is not None:
        builder = SparkSession.builder.appName("loyalty-analytics")
        master = master or os.environ.get(MASTER_SETTING)
        if master is not None:
            builder = builder.master(master)
        elif not _submitted():
            builder = builder.master("local[*]")
        for key, value in {**_SPARK_DEFAULTS, **(conf or {})}.items():
            builder = builder.config(key, value)
        session = builder.getOrCreate()
    return ibis.pyspark.connect(session)


def _submitted() -> bool:
    """Whether spark-submit (or a notebook's launcher) already chose a master for this process."""
    from pyspark import SparkConf

    return bool(SparkConf().contains("spark.master"))


def backend_name(con: ibis.BaseBackend | None) -> str:
    """``duckdb`` for no connection (unbound memtables run there), else the backend's own name."""
    return "duckdb" if con is None else str(con.name)


def register(con: ibis.BaseBackend, data: Any, *, prefix: str = "loyalty") -> ir.Table:
    """An in-memory frame (pandas, Arrow, Polars, an Ibis memtable) as a table of ``con``, for
    expressions that join it with tables there. DuckDB copies it into a temporary table. Spark, which
    has no temporary tables, gets a temporary view over a Spark frame made from its Arrow form: Ibis'
    own route goes through pandas, where a nullable integer column (a sale without a member) turns
    to floats that Spark then reads as nulls throughout."""
    import ibis

    mem = data if isinstance(data, ibis.Table) else ibis.memtable(data)
    name = f"{prefix}_{uuid.uuid4().hex}"
    if backend_name(con) == "pyspark":
        session = con._session
        session.createDataFrame(mem.to_pyarrow()).createOrReplaceTempView(name)
        return con.table(name)
    return con.create_table(name, mem, temp=True)


def is_url(source: str | Path) -> bool:
    """Whether ``source`` names a remote location (``s3a://``, ``hdfs://``, ``abfss://``) rather than
    a local path: it is handed to the engine as written, since `Path` would fold its ``//``."""
    return isinstance(source, str) and "://" in source


def read_file(con: ibis.BaseBackend, path: str | Path) -> ir.Table:
    """A Parquet file, a folder of Parquet parts (as Spark and partitioned exports write them) or a CSV
    file, local or at a URL the engine reads, as a table of ``con``. CSV columns are all read as
    text: the caller validates and casts them, naming the rows it cannot read."""
    spark = backend_name(con) == "pyspark"
    text = str(path)
    name = text.lower().rstrip("/")
    files = (".parquet", ".pq", ".csv", ".csv.gz", ".txt", ".txt.gz")
    folder = not name.endswith(files) if is_url(path) else Path(text).is_dir()
    if folder:
        return con.read_parquet(text if spark else f"{text.rstrip('/')}/**/*.parquet")
    if name.endswith((".parquet", ".pq")):
        return con.read_parquet(text)
    if name.endswith(files):
        if spark:
            return con.read_csv(text, inferSchema=False)
        return con.read_csv(text, all_varchar=True)
    raise InputError(f"{path}: unsupported file type (use .csv, .csv.gz, .parquet or a Parquet folder)")


class Scratch:
    """Intermediate results of a multi-step computation, materialised on the engine that holds them and
    dropped together at the end (``with Scratch() as scratch: t = scratch.keep(expr)``).

    DuckDB gets a temporary table, Spark a persisted frame behind a temporary view. Not Ibis'
    ``Table.cache``: with Ibis 12 and sqlglot 30 its release on DuckDB sends an unnamed ``DROP TABLE``.
    """

    def __init__(self) -> None:
        self._drops: list[Any] = []

    def keep(self, expr: ir.Table) -> ir.Table:
        """``expr`` computed once, as a table of its engine that later expressions read."""
        con = expr.get_backend()
        name = f"loyalty_scratch_{uuid.uuid4().hex}"
        if backend_name(con) == "pyspark":
            session = con._session
            con._run_pre_execute_hooks(expr)  # registers in-memory tables
            frame = session.sql(con.compile(expr)).persist()
            frame.createOrReplaceTempView(name)

            def drop() -> None:
                session.catalog.dropTempView(name)
                frame.unpersist()

            self._drops.append(drop)
            return con.table(name)
        table = con.create_table(name, expr, temp=True)
        self._drops.append(lambda: con.raw_sql(f'DROP TABLE IF EXISTS "{name}"'))
        return table

    def close(self) -> None:
        """Drop everything kept, the latest first."""
        while self._drops:
            self._drops.pop()()

    def __enter__(self) -> Scratch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
