"""A large JSON summary for the report benchmark, made of recorded ones (tests/unit/fixtures/report/).

fleet(hosts, vhosts) -> a summary document (ocsp.stapling/report/1) whose hosts are copies of the recorded lab hosts of
rollout_fleet.json (web1: converged; web2: rolled back; web3: unreachable) in the proportions 85 / 10 / 5 %, each with `vhosts`
vhosts cycled from the recorded ones and renamed; one verified staple in twenty is aged into the danger zone and one in
fifty past nextUpdate, so the chart and the attention list have work to do.
"""

import copy
import datetime
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(os.path.dirname(os.path.dirname(HERE)), "tests", "unit", "fixtures", "report")


def _recorded():
    with open(os.path.join(FIXTURES, "rollout_fleet.json")) as f:
        return json.load(f)


def fleet(hosts=1000, vhosts=5):
    doc = _recorded()
    templates = doc["hosts"]
    out = {"schema": doc["schema"], "playbook": doc["playbook"], "generated": doc["generated"], "hosts": {}}
    n = 0
    for i in range(hosts):
        pick = "web3" if i % 20 == 19 else ("web2" if i % 10 == 4 else "web1")
        h = copy.deepcopy(templates[pick])
        name = "web{0:04d}.example.org".format(i + 1)
        h["host"] = name
        base = h["vhosts"]
        h["vhosts"] = []
        for j in range(vhosts if base else 0):
            v = copy.deepcopy(base[j % len(base)])
            v["server_name"] = "v{0}-{1}".format(j + 1, v["server_name"])
            st = v["staple"]
            if st.get("valid") and st.get("this_update"):
                n += 1
                this = datetime.datetime.strptime(st["this_update"], "%Y-%m-%dT%H:%M:%SZ")
                life = (datetime.datetime.strptime(st["next_update"], "%Y-%m-%dT%H:%M:%SZ") - this).total_seconds()
                st["age"] = int(life * (0.8 if n % 20 == 0 else (1.1 if n % 50 == 0 else (n % 7) / 20.0)))
                st["left"] = life - st["age"]
                st["expiring"] = 0 < st["left"] < life / 3.0  # as the summary decides it (min_validity one third)
            h["vhosts"].append(v)
        out["hosts"][name] = h
    totals = {"hosts": hosts, "vhosts": sum(len(h["vhosts"]) for h in out["hosts"].values())}
    out["totals"] = totals
    return out
