"""``xlcorpus mask``: entity-oriented masked-LM examples from the ``entitycs`` table."""

from __future__ import annotations

import click

from ..cli import main, make_engine, open_store, print_report, store_option
from ..params import click_options
from .strategies import MaskSettings


@main.command()
@click.option("--tokenizer", required=True, type=click.Path(exists=True, file_okay=False),
              help="Local folder of a Hugging Face fast tokenizer (save_pretrained output).")
@store_option
@click_options(MaskSettings, "strategy")
@click.option("--seed", type=int, default=0, show_default=True)
@click_options(MaskSettings, "max_length")
@click.option("--lang", "langs", multiple=True, help="Only these target languages (repeatable).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True)
@click.pass_obj
def mask(obj, tokenizer: str, store: str, strategy: str, seed: int, max_length: int,
         langs: tuple[str, ...], workers: int) -> None:
    """Turn `entitycs` rows into `entitycs_masked` (input_ids, labels, entity_mask)."""
    import pyarrow.dataset as pads

    from ..engine.core import Step
    from ..ids import params_fingerprint
    from ..pipeline import RunReport
    from .masking import EntityMasking
    from ..engine.core import TableSource

    st = open_store(store)
    if not st.exists("entitycs"):
        raise click.ClickException(f"store {store!r} has no entitycs table (run pipelines/entitycs.yaml first)")
    flt = pads.field("tgt_lang").isin(list(langs)) if langs else None
    params = {"tokenizer": tokenizer, "strategy": strategy, "seed": seed, "max_length": max_length, "langs": langs}
    run_id = params_fingerprint(params)[:16]
    step = Step("mask", TableSource(st, "entitycs", flt, batch_size=10_000), [EntityMasking(tokenizer, strategy, seed, max_length)],
                ["entitycs_masked"], mode="merge", source_column="id", position_column="none")
    engine = make_engine("local", workers, False, not obj.quiet)
    report = engine.run_step(step, st, run_id, {"pipeline": "mask", "params": params, "run_id": run_id})
    print_report(obj.echo, RunReport("mask", run_id, [report]))
