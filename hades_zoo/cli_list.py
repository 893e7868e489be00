"""``hades-zoo list``: the catalogue as a table a person can read in 80 columns, or as JSON.

One row per name (its default revision), grouped under a line per env, so the full name always
fits: name, method, D, source (authors / ours), revision count, the figure our client verified
and the paper's figure (image datasets: test accuracy). ``--revisions`` shows every file instead.
"""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from hades_zoo import catalogue as cat
from hades_zoo import hub


def _figure(v: dict | None) -> str:
    if not v or v.get("value") is None:
        return "unverified"
    x = v["value"]
    if "accuracy" in (v.get("metric") or ""):
        return f"acc {x:.3f}"
    return f"{x:.0f}" if abs(x) >= 1000 else f"{x:.1f}"


def _matches_env(row: dict, env: str | None) -> bool:
    if env is None:
        return True
    e = env.lower().replace("_", "-")
    return e in (row["env_id"] or "").lower().replace("_", "-") or row["name"].startswith(e + "-hades-")


def select(rows: list[dict], env=None, method=None, source=None) -> list[dict]:
    out = []
    for r in rows:
        if not _matches_env(r, env):
            continue
        if method and r["method"] != f"hades-{method.lower()}":
            continue
        if source and source not in r["sources"]:
            continue
        out.append(r)
    return out


def catalogue_rows(revisions: bool) -> list[dict]:
    groups = cat.catalogue()
    rows = cat.all_revisions() if revisions else cat.rows()
    for r in rows:
        r["sources"] = sorted({e["source"] for e in groups[r["name"]]["revisions"].values()})
    return rows


def _list_remote(org, as_json):
    def cells(r):
        ret = r.get("return") or {}
        return (r["repo_id"], str(r["env_id"]), str(r["method"]), str(r["size"]),
                f"{ret.get('mean', float('nan')):.1f} ± {ret.get('std', float('nan')):.1f}", (r["commit"] or "")[:12],
                str(r["private"]))

    _print_rows(hub.list_remote(org), as_json, ("repo", "env", "method", "pairs", "return (own arch)", "commit", "private"),
                cells, f"(no dataset repos tagged {hub.HUB_TAG!r} for org {org or hub.hub_org()!r} on {hub.endpoint()})")


def _print_rows(rows, as_json, columns, cells, empty):
    """``list``'s output: JSON rows, or a rich table (and ``empty`` when there are none)."""
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    table = Table(*columns)
    for r in rows:
        table.add_row(*cells(r))
    Console().print(table)
    if not rows:
        click.echo(empty)



@click.command("list", help="List the zoo's datasets: one row per name (its default revision), grouped by env. "
               "--remote: the hub's repos tagged hades-zoo.")
@click.option("--env", default=None, help="Only this env (id or slug, e.g. hopper, breakout-minatar).")
@click.option("--method", default=None, type=click.Choice(["r", "f"], case_sensitive=False), help="Only HaDES-R or HaDES-F.")
@click.option("--source", default=None, type=click.Choice(["authors", "ours"]),
              help="Only names with files from the authors' release, or from our engine.")
@click.option("--revisions", is_flag=True, help="One row per file (every revision), not per name.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--remote", is_flag=True, help="List the dataset repos tagged hades-zoo on the hub (HF_ENDPOINT).")
@click.option("--org", default=None, help="With --remote: the org (default $HADES_ZOO_HUB_ORG or hades-zoo; '*': all).")
def list_cmd(env, method, source, revisions, as_json, remote, org):
    if remote:
        return _list_remote(org, as_json)
    rows = select(catalogue_rows(revisions), env, method, source)
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    if not rows:
        click.echo("(no dataset matches)" if (env or method or source) else "(the catalogue is empty)")
        return
    for line in render(rows, revisions):
        click.echo(line)


def _figure_cell(v: dict | None) -> str:
    return "-" if not v or v.get("value") is None else _figure(v)


def render(rows: list[dict], revisions: bool = False) -> list[str]:
    """Plain lines that fit 80 columns: an env line, then one line per name (or per revision, under its name)."""
    rows = sorted(rows, key=lambda r: (str(r["env_id"]).lower(), r["size"], r["method"], r["name"], r["revision"]))
    if revisions:
        head = f"{'  @revision':<24} {'source':<7} {'where':<7} {'verified':>9} {'authors':>9}"
    else:
        head = f"{'name':<35} {'m':1} {'D':>3}  {'source':<12} {'revs':>4} {'verified':>9} {'paper':>8}"
    out, env_now, name_now = [head, "-" * len(head)], None, None
    for r in rows:
        if r["env_id"] != env_now:
            env_now = r["env_id"]
            family = r.get("family") if r.get("family") not in (None, "ours") else None
            out.append(click.style(str(env_now), bold=True) + (f" ({family})" if family else ""))
        if revisions:
            if r["name"] != name_now:
                name_now = r["name"]
                out.append(f" {name_now}  (default @{r['default']})")
            out.append(f"{'  @' + r['revision']:<24} {r['source']:<7} {r['where']:<7} "
                       f"{_figure_cell(r.get('verified')):>9} {_figure(r['authors']) if r.get('authors') else '':>9}")
        else:
            paper = _figure(r["paper"]) if r.get("paper") else ""
            out.append(f"{r['name']:<35} {r['method'][-1].upper()} {r['size']:>3}  {'+'.join(r['sources']):<12} "
                       f"{r['revisions_count']:>4} {_figure_cell(r.get('verified')):>9} {paper:>8}")
    out.append("verified: our client, the dataset's own recipe and protocol (-: unverified)")
    out.append("authors: the file's fitness_last10_gens" if revisions else
               "paper: authors' fitness_last10_gens, mean of the headline seeds (--revisions)")
    return out
