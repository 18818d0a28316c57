"""30 jobs submitted at once from several threads all complete, each exactly once."""

from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.support.system import System


def test_thirty_jobs_at_once(system: System) -> None:
    sqls = [f"select col_{i}, count(*) from t_{i} group by col_{i}\n" for i in range(30)]
    with ThreadPoolExecutor(6) as pool:
        job_ids = list(pool.map(lambda sql: system.submit({"sql_content": sql}), sqls))
    assert len(set(job_ids)) == 30
    bodies = [system.wait_final(job_id, timeout=300) for job_id in job_ids]
    assert {b["job_status"] for b in bodies} == {"COMPLETED"}
    assert all(b["sub_tasks"]["total"] == 1 for b in bodies)
    for body in bodies:
        # The run's own end is its last step, just after the job's final status.
        system.wait_run_state(body["flow_run_id"], "COMPLETED")
    runs = httpx.post(
        f"{system.prefect_api}/flow_runs/filter",
        json={"flow_runs": {"name": {"any_": job_ids}}, "limit": 200},
        timeout=30,
    ).json()
    assert sorted(r["name"] for r in runs) == sorted(job_ids), "not exactly one flow run per job"
    assert {r["state_type"] for r in runs} == {"COMPLETED"}
    assert {r["run_count"] for r in runs} == {1}
