"""`interactions stack up|down|status`: real Kafka and Redis on loopback.

The stack ships inside the package with its Maven POM and log4j config, so these commands work
the same from a checkout and from an installed wheel. `--kafka-brokers N --redis-cluster M`
(or `--cluster` for 3 and 3) selects the clustered stack instead (stack/cluster.py): other
ports and folder, so it runs beside the single-node one.
"""

from __future__ import annotations

import json
import subprocess
from typing import Annotated

import typer

from interaction_pipeline.cli.context import err_console, get_settings
from interaction_pipeline.stack import (
    StackError,
    all_answering,
    cluster,
    down,
    print_status,
    status,
    up,
)
from schemas.settings import Settings

stack_app = typer.Typer(help="Start, stop and check local Kafka and Redis on loopback.")


def _fail(exc: Exception) -> typer.Exit:
    err_console.print(f"stack: error: {exc}")
    return typer.Exit(1)


BrokersOption = Annotated[
    int,
    typer.Option(
        "--kafka-brokers", help="Kafka nodes; 3 to 5 starts the clustered stack.", min=1, max=5
    ),
]
MastersOption = Annotated[
    int,
    typer.Option(
        "--redis-cluster",
        help="Redis Cluster masters (each with a replica); 3 to 8 starts the clustered stack.",
        min=0,
        max=8,
    ),
]
ClusterOption = Annotated[
    bool, typer.Option("--cluster", help="The clustered stack: 3 brokers, 3 Redis masters.")
]


def _layout(settings: Settings, brokers: int, masters: int, flag: bool) -> cluster.ClusterLayout:
    """The cluster asked for, or an error when only half of one is asked for."""
    if flag:
        brokers, masters = max(brokers, 3), masters or 3
    if brokers < 3 or masters < 3:
        raise StackError(
            "the clustered stack needs both --kafka-brokers 3..5 and --redis-cluster 3..8"
        )
    return cluster.ClusterLayout.from_settings(
        settings, kafka_brokers=brokers, redis_masters=masters
    )


def _clustered(brokers: int, masters: int, flag: bool) -> bool:
    return flag or brokers > 1 or masters > 0


@stack_app.command("up")
def up_command(
    kafka_brokers: BrokersOption = 1,
    redis_cluster: MastersOption = 0,
    cluster_: ClusterOption = False,
) -> None:
    """Start Kafka (KRaft) and Redis; wait until both answer; create topics.

    With --kafka-brokers 3 --redis-cluster 3: three KRaft nodes (replication factor 3,
    min.insync.replicas 2) and a Redis Cluster of three masters with a replica each, on their
    own ports; prints the variables that point the pipeline at it."""
    settings = get_settings()
    try:
        if not _clustered(kafka_brokers, redis_cluster, cluster_):
            up(settings)
            return
        layout = _layout(settings, kafka_brokers, redis_cluster, cluster_)
        cluster.up(settings, layout)
    except (StackError, subprocess.SubprocessError) as exc:
        raise _fail(exc) from None
    typer.echo("# point the pipeline at the cluster:")
    for name, value in layout.environment().items():
        typer.echo(f"export {name}={value}")


@stack_app.command("down")
def down_command(
    purge: Annotated[bool, typer.Option(help="Also delete their data.")] = False,
    kafka_brokers: BrokersOption = 1,
    redis_cluster: MastersOption = 0,
    cluster_: ClusterOption = False,
) -> None:
    """Stop the services started by `up` (the clustered ones with the same options)."""
    settings = get_settings()
    try:
        if _clustered(kafka_brokers, redis_cluster, cluster_):
            cluster.down(_layout(settings, kafka_brokers, redis_cluster, cluster_), purge=purge)
        else:
            down(settings, purge=purge)
    except (StackError, subprocess.SubprocessError) as exc:
        raise _fail(exc) from None


@stack_app.command("status")
def status_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    kafka_brokers: BrokersOption = 1,
    redis_cluster: MastersOption = 0,
    cluster_: ClusterOption = False,
) -> None:
    """Show each service, its port and whether it answers; exit 1 if one does not."""
    settings = get_settings()
    if _clustered(kafka_brokers, redis_cluster, cluster_):
        try:
            layout = _layout(settings, kafka_brokers, redis_cluster, cluster_)
        except StackError as exc:
            raise _fail(exc) from None
        report = cluster.status(layout)
        typer.echo(json.dumps(report, indent=2))
        if not (report["kafka"]["answering"] and report["redis"]["answering"]):
            raise typer.Exit(1)
        return
    info = status(settings)
    if as_json:
        typer.echo(json.dumps(info, indent=2))
    else:
        print_status(info)
    if not all_answering(info):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(stack_app, name="stack")
