"""Identification measured on real replies (tests/real/): the figures issue 11 asks for.

    .venv/bin/python bench/real_corpus.py [--misses] [--json FILE]

Every corpus item with a parser goes parse → assemble → identify with the shipped
knowledge base, alone; items from one device (manifest ``device.id``) are then run
together. Compared with each item's documented ``expected`` result (the truth about
the device as far as the item shows it, not what the code outputs):

* maker named: items whose expected maker is known and whose identity names that maker
  (or one of its group);
* covered right: items expected covered that come out covered, and items expected not
  covered that come out not covered (an item with no maker evidence must not be called
  covered);
* class right: items whose documented class (``unknown`` included) is the identity's;
* guessed: items the manifest says carry no maker evidence that got a maker anyway;
* misses: each item that got a wrong or no maker, or the wrong covered status, with
  the identity's strongest evidence;
* remaining unknowns: the items that carry no maker evidence, with the manifest's reason.

A script, not a test: these are the baseline the identification work is measured by.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from real_corpus import Item, devices, identify_observations, load_manifest, parse  # noqa: E402

from auditor.knowledge import KnowledgeBase, load_knowledge  # noqa: E402
from auditor.models import Identity, Observation  # noqa: E402


@dataclass
class Outcome:
    label: str
    """Item id, or ``device:<id>`` for a device's items together."""
    kinds: str
    expected: dict[str, Any]
    identity: Identity | None
    error: str | None = None


def _same_maker(kb: KnowledgeBase, expected: str, got: str | None) -> bool:
    if got is None:
        return False
    if expected.casefold() == got.casefold():
        return True
    return expected in kb.makers and got in kb.makers and kb.same_group(expected, got)


def _run(kb: KnowledgeBase, label: str, items: list[Item], expected: dict[str, Any]) -> Outcome:
    observations: list[Observation] = []
    kinds = ",".join(sorted({i.kind for i in items}))
    try:
        for item in items:
            observations.extend(parse(item).observations)
    except Exception as exc:  # a parser failure is a finding of its own (test_real_parse fails too)
        return Outcome(label, kinds, expected, None, f"{type(exc).__name__}: {exc}")
    return Outcome(label, kinds, expected, identify_observations(observations, kb))


def _device_expected(items: list[Item]) -> dict[str, Any]:
    """A device's expected result: the maker any of its items establishes (they agree), covered if any says so."""
    makers = {i.expected["maker"] for i in items if i.expected["maker"]}
    maker = makers.pop() if len(makers) == 1 else None
    classes = {i.expected.get("class") for i in items} - {None, "unknown"}
    return {"maker": maker, "covered": any(i.expected["covered"] for i in items),
            "class": classes.pop() if len(classes) == 1 else None,
            "reason": None if maker else "no item names a maker"}


def evaluate(kb: KnowledgeBase, items: list[Item]) -> tuple[list[Outcome], list[Outcome]]:
    parsed = [i for i in items if i.parser is not None]
    alone = [_run(kb, i.id, [i], i.expected) for i in parsed]
    grouped = [_run(kb, f"device:{dev}", its, _device_expected(its))
               for dev, its in devices(parsed).items() if len(its) > 1]
    return alone, grouped


def verdict(kb: KnowledgeBase, o: Outcome) -> tuple[bool | None, bool, str | None]:
    """(maker named right — None when no maker is expected, covered right, why it is a miss)."""
    got_maker = o.identity.maker if o.identity else None
    got_covered = bool(o.identity and o.identity.covered)
    want = o.expected["maker"]
    maker_ok = None if want is None else _same_maker(kb, want, got_maker)
    covered_ok = got_covered == bool(o.expected["covered"])
    got_class = o.identity.device_class if o.identity else "unknown"
    want_class = o.expected.get("class")
    why = None
    if o.error:
        why = f"parser error: {o.error}"
    elif maker_ok is False:
        why = f"maker {got_maker or 'unknown'}, expected {want}"
    elif want is None and got_maker is not None:
        why = f"named {got_maker}, but the item carries no maker evidence"
    elif not covered_ok:
        why = f"covered={got_covered}, expected {o.expected['covered']}"
    elif want_class is not None and got_class != want_class:
        why = f"class {got_class}, expected {want_class}"
    return maker_ok, covered_ok, why


def _evidence(identity: Identity | None, limit: int = 3) -> str:
    if identity is None:
        return "no observation"
    shown = [f"{e.strength} {e.probe}.{e.field}={e.value!r}->{e.supports or '-'}" for e in identity.evidence[:limit]]
    return "; ".join(shown) or "no evidence"


def _rate(ok: int, total: int) -> str:
    return f"{ok}/{total} ({100 * ok / total:.0f}%)" if total else "0/0"


def figures(kb: KnowledgeBase, outcomes: list[Outcome]) -> dict[str, Any]:
    named = [verdict(kb, o)[0] for o in outcomes]
    covered_want = [o for o in outcomes if o.expected["covered"]]
    free_want = [o for o in outcomes if not o.expected["covered"]]
    classed = [o for o in outcomes if o.expected.get("class")]
    return {
        "runs": len(outcomes),
        "maker_named": (sum(1 for n in named if n), sum(1 for n in named if n is not None)),
        "covered_found": (sum(1 for o in covered_want if o.identity and o.identity.covered), len(covered_want)),
        "not_covered_kept": (sum(1 for o in free_want if not (o.identity and o.identity.covered)), len(free_want)),
        "class_right": (sum(1 for o in classed if (o.identity.device_class if o.identity else "unknown")
                            == o.expected["class"]), len(classed)),
        "guessed": sum(1 for o in outcomes if o.expected["maker"] is None and o.identity and o.identity.maker),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--misses", action="store_true", help="list every miss with its evidence")
    ap.add_argument("--unknowns", action="store_true", help="list the items that carry no maker evidence, with why")
    ap.add_argument("--json", type=Path, help="also write the figures and misses as JSON")
    args = ap.parse_args(argv)
    items = load_manifest()
    kb = load_knowledge()
    alone, grouped = evaluate(kb, items)
    makers = Counter(i.device["maker"] or "(unknown)" for i in items)
    print(f"items: {len(items)} ({len([i for i in items if i.parser])} with a parser, "
          f"{len([i for i in items if not i.parser])} kept for parsers to come)")
    print(f"kinds: {dict(Counter(i.kind for i in items))}")
    print(f"makers: {len([m for m in makers if m != '(unknown)'])} ({dict(makers.most_common())})")
    report: dict[str, Any] = {"items": len(items), "makers": dict(makers)}
    for name, outcomes in (("items alone", alone), ("devices (items together)", grouped)):
        f = figures(kb, outcomes)
        report[name] = f
        print(f"\n{name}: {f['runs']} runs")
        print(f"  maker named right:           {_rate(*f['maker_named'])}")
        print(f"  covered items found covered: {_rate(*f['covered_found'])}")
        print(f"  others kept not covered:     {_rate(*f['not_covered_kept'])}")
        print(f"  class right:                 {_rate(*f['class_right'])}")
        print(f"  maker guessed (none shown):  {f['guessed']}")
    misses = []
    for o in alone + grouped:
        _, _, why = verdict(kb, o)
        if why:
            got = o.identity
            misses.append({"item": o.label, "kinds": o.kinds, "why": why,
                           "expected": {k: o.expected.get(k) for k in ("maker", "covered")},
                           "got": {"maker": got.maker if got else None, "covered": bool(got and got.covered),
                                   "review": got.review if got else None},
                           "evidence": _evidence(got)})
    print(f"\nmisses: {len(misses)}")
    if args.misses:
        for m in misses:
            print(f"  {m['item']} [{m['kinds']}]: {m['why']}\n      evidence: {m['evidence']}")
    unknowns = [{"item": i.id, "kind": i.kind, "reason": i.expected.get("reason")}
                for i in items if i.parser and i.expected["maker"] is None]
    print(f"remaining unknowns (items that carry no maker evidence): {len(unknowns)}")
    if args.unknowns:
        for u in unknowns:
            print(f"  {u['item']} [{u['kind']}]: {u['reason']}")
    if args.json:
        report["misses"] = misses
        report["unknowns"] = unknowns
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
