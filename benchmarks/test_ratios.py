"""Unit tests of ratios.py's publication rule (run: python3 -m unittest discover -s benchmarks -p 'test_*.py')."""
import os, sys, unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ratios  # noqa: E402


def run_main(rows):
    """What ratios.main prints (stdout) for a results file holding rows."""
    import contextlib, io, json, tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(rows, f)
    try:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            ratios.main([f.name])
    finally:
        os.unlink(f.name)
    return out.getvalue()


def result(forks=2, outside=((0.01, 0.02), (0.01, 0.03)), before_run=0.4, cores=2, load=((4.5,), (3.9,))):
    """A JMH result as run.sh writes it; None drops that figure."""
    sm = {"load.cores": {"score": cores, "rawData": [[cores]] * forks},
          "load.before": {"score": 4.5, "rawData": [list(f) for f in load]},
          "load.after": {"score": 4.5, "rawData": [list(f) for f in load]}}
    if outside is not None:
        sm["outside.cpu"] = {"score": max(max(f) for f in outside), "rawData": [list(f) for f in outside]}
    if before_run is not None:
        sm["load.beforeRun"] = {"score": before_run, "rawData": [[before_run]] * forks}
    return ("EndToEndBenchmark.saturation", "x.json", {"forks": forks, "secondaryMetrics": sm})


class DisciplineTest(unittest.TestCase):

    def test_a_broker_run_whose_own_load_is_high_but_nothing_else_ran_is_published(self):
        # the quiet run of 2026-12-05: load average 3.2-4.6 on 2 cores, all of it the run's own
        self.assertEqual([], ratios.discipline_problems([result(load=((4.6, 4.5), (3.2, 3.9)))]))

    def test_outside_cpu_above_the_limit_in_any_iteration_of_any_fork_refuses(self):
        problems = ratios.discipline_problems([result(outside=((0.01, 0.02), (0.01, 0.11)))])
        self.assertEqual(1, len(problems))
        self.assertIn("outside the run used 11.0%", problems[0])

    def test_outside_cpu_at_the_limit_passes(self):
        self.assertEqual([], ratios.discipline_problems([result(outside=((0.10,), (0.05,)))]))

    def test_load_before_the_run_above_one_and_a_half_per_core_refuses(self):
        self.assertEqual([], ratios.discipline_problems([result(before_run=3.0, cores=2)]))
        problems = ratios.discipline_problems([result(before_run=3.01, cores=2)])
        self.assertEqual(1, len(problems))
        self.assertIn("load before the run 3.01 on 2 cores", problems[0])

    def test_missing_outside_figures_refuse(self):
        self.assertIn("no outside load recorded", ratios.discipline_problems([result(outside=None)])[0])
        self.assertIn("no outside load recorded", ratios.discipline_problems([result(before_run=None)])[0])

    def test_one_fork_refuses(self):
        problems = ratios.discipline_problems([result(forks=1, outside=((0.01,),), load=((1.0,),))])
        self.assertEqual(1, len(problems))
        self.assertIn("1 fork(s)", problems[0])

    def test_thresholds_are_parameters(self):
        r = [result(outside=((0.2,), (0.2,)), before_run=5.0)]
        self.assertEqual(2, len(ratios.discipline_problems(r)))
        self.assertEqual([], ratios.discipline_problems(r, max_load_per_core=3, max_outside_per_core=0.25))

    def test_mains_are_judged_by_their_own_outside_figures(self):
        quiet = {"loadBefore": 4.0, "loadAfter": 4.2, "cores": 2, "outsideCpu": 0.02, "loadBeforeRun": 0.3}
        self.assertEqual([], ratios.discipline_problems([], [("ReplicationLagMain", "lag.json", quiet)]))
        busy = dict(quiet, outsideCpu=0.4)
        self.assertIn("40.0%", ratios.discipline_problems([], [("ReplicationLagMain", "lag.json", busy)])[0])
        old = {"loadBefore": 1.0, "loadAfter": 1.0, "cores": 2}
        self.assertIn("no outside load", ratios.discipline_problems([], [("ReplicationLagMain", "lag.json", old)])[0])
        # a main recording no load at all (the footprint: a size) is not judged
        self.assertEqual([], ratios.discipline_problems([], [("FootprintMain", "f.json", {"bytes": 1})]))

    def test_the_committed_first_quiet_run_is_refused_for_lacking_the_outside_figures(self):
        here = os.path.dirname(os.path.abspath(__file__))
        path = os.path.join(here, "results", "quiet-2026-12-05T0508-t1-e2e.json")
        import json
        rows = json.load(open(path))
        problems = ratios.discipline_problems([(r["benchmark"], path, r) for r in rows])
        self.assertTrue(problems)
        self.assertTrue(all("no outside load recorded" in p for p in problems))


def e2e_result(cpu, cores_busy=None, cores=2):
    """An EndToEndBenchmark result with the CPU figures {brokers, clients, total: (score, error)}."""
    sm = {"load.cores": {"score": cores, "rawData": [[cores]]}}
    for part, (v, e) in cpu.items():
        sm[f"cpu.{part}.us.per.msg"] = {"score": v, "scoreError": e, "rawData": [[v]]}
    if cores_busy is not None:
        sm["cpu.cores.used"] = {"score": cores_busy, "scoreError": 0.1, "rawData": [[cores_busy]]}
    return {"forks": 2, "secondaryMetrics": sm}


class CpuSectionTest(unittest.TestCase):

    def e2e(self):
        return {
            "tandem": (e2e_result({"brokers": (300.0, 30.0), "clients": (200.0, 20.0), "total": (500.0, 40.0)}, 1.95),
                       e2e_result({"total": (900.0, 90.0)})),
            "raw1": (e2e_result({"brokers": (15.0, 1.5), "clients": (10.0, 1.0), "total": (25.0, 2.0)}, 1.9), None),
            "raw2": (e2e_result({"brokers": (30.0, 3.0), "clients": (20.0, 2.0), "total": (50.0, 4.0)}, 1.9), None),
        }

    def test_table_rows_per_pipeline_with_brokers_clients_total_and_cores(self):
        text = "\n".join(ratios.cpu_section(self.e2e()))
        self.assertIn("| Tandem (ANY publish, full guarantee, both regions) | 300.0 ± 30.0 | 200.0 ± 20.0 | "
                      "500.0 ± 40.0 | 1.95 ± 0.10 of 2 | 900.0 ± 90.0 |", text)
        self.assertIn("| raw Kafka, one region | 15.0 ± 1.5 | 10.0 ± 1.0 | 25.0 ± 2.0 | 1.90 ± 0.10 of 2 | n/a |", text)
        self.assertIn("| raw Kafka, both regions process everything | 30.0 ± 3.0 |", text)

    def test_ceiling_is_raw1_total_over_tandem_total_with_propagated_error(self):
        text = "\n".join(ratios.cpu_section(self.e2e()))
        # 25 / 500 = 0.05; relative errors 2/25 = 0.08 and 40/500 = 0.08 in quadrature: 0.05 * 0.1131 = 0.0057
        self.assertIn("= 25.0 / 500.0 µs = **0.05 ± 0.01**", text)
        self.assertIn("goal 0.7: below the goal", text)
        self.assertIn("Brokers: Tandem 20.0x raw1's CPU per message. Clients: Tandem 20.0x", text)
        # the bound without assuming raw1 saturated: 2 cores / 500 us = 4,000 records/s vs raw1's 100,000
        e2e = self.e2e()
        e2e["raw1"][0]["primaryMetric"] = {"score": 100_000.0}
        self.assertIn("2 cores / 500.0 µs = 4,000 records/s at most = 0.04 of raw1's measured 100,000.",
                      "\n".join(ratios.cpu_section(e2e)))

    def test_a_ceiling_above_the_goal_says_so(self):
        e2e = self.e2e()
        e2e["tandem"] = (e2e_result({"total": (30.0, 1.0)}), None)
        self.assertIn("at or above the goal", "\n".join(ratios.cpu_section(e2e)))

    def test_without_cpu_figures_nothing_is_printed_and_without_raw1_no_ceiling(self):
        self.assertEqual([], ratios.cpu_section({"tandem": (None, None), "raw1": (None, None)}))
        here = os.path.dirname(os.path.abspath(__file__))
        import json
        with open(os.path.join(here, "results", "quiet-2026-12-05T0818-t1-e2e.json")) as f:
            old = json.load(f)
        self.assertEqual([], ratios.cpu_section({"tandem": (old[0], old[1])}))  # before session 7: no cpu.*
        e2e = self.e2e()
        e2e["raw1"] = (None, None)
        self.assertIn("Ceiling: n/a", "\n".join(ratios.cpu_section(e2e)))

    def test_the_printed_tables_carry_the_cpu_section_and_the_count_line(self):
        rows = []
        for p, (sat, ol) in self.e2e().items():
            for method, r in (("saturation", sat), ("openLoop", ol)):
                if r is None:
                    continue
                row = dict(r, benchmark=f"dev.tandem.benchmarks.EndToEndBenchmark.{method}", threads=1,
                           params={"pipeline": p, "rate": "1000"},
                           primaryMetric={"score": 1000.0, "scoreError": 10.0})
                if p == "tandem":
                    row["secondaryMetrics"] = dict(row["secondaryMetrics"], **{
                        "count.store.claims": {"score": 1.0, "rawData": [[1.0]]},
                        "count.remote.applied": {"score": -0.5, "rawData": [[-0.5]]}})
                rows.append(row)
        text = run_main(rows)
        self.assertIn("| raw Kafka, one region | 15.0 ± 1.5 | 10.0 ± 1.0 | 25.0 ± 2.0 |", text)
        self.assertIn("**0.05 ± 0.01**", text)
        self.assertIn("saturation: store.claims 1, remote.applied -0.5 (NEGATIVE COUNTS", text)
        self.assertIn("NOT PUBLISHABLE", text)  # no outside figures in these rows


class SplitSectionTest(unittest.TestCase):
    """The follower's stage split (session 9): generated from split.* secondary results, dashes without them."""

    @staticmethod
    def ol(stages):
        sm = {}
        for name, (p50, p99, tail) in stages.items():
            for k, v in (("p50", p50), ("p99", p99), ("tail", tail)):
                sm[f"split.{name}.{k}"] = {"score": v, "scoreError": v / 10}
        sm["split.samples"] = {"score": 150.0, "scoreError": 20.0}
        sm["split.tail.samples"] = {"score": 10.0, "scoreError": 1.0}
        return {"secondaryMetrics": sm}

    def test_rows_per_stage_and_the_stage_behind_the_tail(self):
        ol = self.ol({"lead": (1.0, 8.0, 6.0), "claim": (0.2, 1.0, 0.5), "barrier": (3.0, 20.0, 15.0),
                      "complete": (0.1, 0.4, 0.2), "replication": (3.5, 9.0, 7.3), "follower": (9.0, 35.0, 29.0)})
        text = "\n".join(ratios.split_section(ol))
        self.assertIn("| barrier | claim written → handler start", text)
        self.assertIn("| 3.00 ± 0.30 | 20.00 ± 2.00 | 15.00 ± 1.50 |", text)
        self.assertIn("| **follower** |", text)
        self.assertIn("In the tail (10 of 150 held copies per iteration, averaged) the largest stage is "
                      "**barrier**: 15.00 of 29.00 ms (52%)", text)

    def test_a_run_without_the_split_shows_dashes_and_no_open_loop_result_no_section(self):
        text = "\n".join(ratios.split_section({"secondaryMetrics": {"follower.p99": {"score": 1.0}}}))
        self.assertIn("| lead | follower's poll → owner's poll", text)
        self.assertIn("| — | — | — |", text)
        self.assertIn("Stage split: — (not recorded by this run", text)
        self.assertEqual([], ratios.split_section(None))

    def test_the_committed_1358_run_prints_with_dashes(self):
        here = os.path.dirname(os.path.abspath(__file__))
        import json
        with open(os.path.join(here, "results", "quiet-2026-12-05T1358-t1-e2e.json")) as f:
            rows = json.load(f)
        text = run_main(rows)
        self.assertIn("| replication | COMPLETED written → applied in the follower's store | — | — | — |", text)


class AnatomySectionTest(unittest.TestCase):
    """The put-anatomy table (StorePutAnatomyBenchmark, session 8): printed only when its rows are given."""

    @staticmethod
    def row(method, score, error, cls="StorePutAnatomyBenchmark", params=None):
        return {"benchmark": f"dev.tandem.benchmarks.{cls}.{method}", "threads": 1, "forks": 2,
                "params": params or {"idLength": "16"},
                "primaryMetric": {"score": score, "scoreError": error}, "secondaryMetrics": {}}

    def test_every_method_with_its_ratio_to_the_raw_default_put_base_first(self):
        text = run_main([self.row("rawPutShardKeys", 100_000.0, 10_000.0),
                              self.row("rawPut", 200_000.0, 20_000.0),
                              self.row("someNewRow", 50_000.0, 0.0)])
        self.assertIn("### Put anatomy (`StorePutAnatomyBenchmark`)", text)
        section = text[text.index("### Put anatomy"):]
        self.assertLess(section.index("| `rawPut` |"), section.index("| `rawPutShardKeys` |"))
        self.assertIn("| `rawPut` | raw put, default options", section)
        self.assertIn("| 200,000 ± 20,000 | 1.00 ± 0.14 |", section)
        self.assertIn("| `rawPutShardKeys` | raw put, the store's key layout (shard prefix), default options "
                      "| 100,000 ± 10,000 | 0.50 ± 0.07 |", section)
        self.assertIn("| `someNewRow` |  | 50,000 ± 0 | 0.25 ± 0.03 |", section)
        self.assertIn("t=1, idLength=16:", section)
        # the derived ratio whose two rows are present, and none of the others
        self.assertIn("| `rawPutShardKeys` / `rawPut` | raw put: the store's key order over counting-up keys "
                      "| 0.50 ± 0.07 |", section)
        self.assertNotIn("rawGetPutPair", section)

    def test_the_generic_base_name_counts_when_rawPut_is_absent(self):
        text = run_main([self.row("rawPutDefault", 100_000.0, 10_000.0), self.row("putB", 50_000.0, 5_000.0)])
        self.assertIn("/ `rawPutDefault` |", text)
        self.assertIn("| `putB` |  | 50,000 ± 5,000 | 0.50 ± 0.07 |", text)

    def test_without_the_base_the_ratios_are_n_a(self):
        text = run_main([self.row("putA", 100_000.0, 10_000.0)])
        self.assertIn("| `putA` |  | 100,000 ± 10,000 | n/a |", text)

    def test_without_its_rows_there_is_no_section(self):
        text = run_main([self.row("rocksPut", 100_000.0, 1.0, cls="StoreBenchmark")])
        self.assertNotIn("Put anatomy", text)


if __name__ == "__main__":
    unittest.main()
