"""Unit tests of ratios.py's publication rule (run: python3 -m unittest discover -s benchmarks -p 'test_*.py')."""
import os, sys, unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ratios  # noqa: E402


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


if __name__ == "__main__":
    unittest.main()
