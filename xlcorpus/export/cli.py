"""``xlcorpus export hf``: a table version as a Hugging Face Hub dataset folder (and push)."""

from __future__ import annotations

import click

from ..cli import main, open_store, store_option


@main.group("export")
def export_group() -> None:
    """Publish a table version (Hugging Face Hub)."""


@export_group.command("hf")
@click.argument("table")
@click.option("--version", "version", type=click.IntRange(min=0), help="Table version (default: latest).")
@click.option("--release", help="Export the table's version in this named release.")
@click.option("--to", "to", required=True, type=click.Path(file_okay=False), help="Folder to write.")
@click.option("--push", "repo_id", metavar="REPO_ID", help="Then upload the folder to this Hub dataset repo.")
@click.option("--private", is_flag=True, help="Create the Hub repo as private (with --push).")
@click.option("--license", "license_", default=None,
              help="License id for the card (default: that of the inputs, when known; required otherwise).")
@click.option("--task", "tasks", multiple=True, help="Hub task category (repeatable; default by table).")
@click.option("--max-shard-mb", type=click.FloatRange(min=0.001), default=500, show_default=True,
              help="Largest Parquet shard (Arrow size in MB).")
@click.option("--split", default="train", show_default=True,
              help="Split name for the rows (a table with a `split` column uses its values).")
@click.option("--overwrite", is_flag=True, help="Replace a non-empty --to folder.")
@store_option
@click.pass_obj
def export_hf_command(obj, table: str, version: int | None, release: str | None, to: str,
                      repo_id: str | None, private: bool, license_: str | None, tasks: tuple[str, ...],
                      max_shard_mb: float, split: str, overwrite: bool, store: str) -> None:
    """Write TABLE as a Hub dataset folder: README.md card + Parquet shards per config.

    One config per language (pair) from the table's partition columns; load one with
    ``datasets.load_dataset(DIR, CONFIG)``. --push uploads with huggingface_hub (token from
    HF_TOKEN or `hf auth login`; it is never printed).
    """
    from .hf import export_hf, push_hf

    if version is not None and release is not None:
        raise click.UsageError("give --version or --release, not both")
    if private and not repo_id:
        raise click.UsageError("--private needs --push REPO_ID")
    exp = export_hf(open_store(store), table, to, version=version, release=release, license=license_,
                    tasks=list(tasks) or None, max_shard_mb=max_shard_mb, overwrite=overwrite,
                    repo_id=repo_id, split=split)
    files = sum(len(c.files) for c in exp.configs)
    obj.echo(f"{table} v{exp.version}: {exp.rows:,} rows, {len(exp.configs)} config(s) "
             f"({', '.join(c.name for c in exp.configs)}), {files} Parquet file(s) -> {exp.folder}")
    if repo_id:
        url = push_hf(exp.folder, repo_id, private=private,
                      message=f"xlcorpus export {table} v{exp.version}")
        obj.echo(f"pushed to https://huggingface.co/datasets/{repo_id} ({url})")
