-- A task whose dependency is not done is marked waiting, and set free in the transaction that
-- completes its dependency: claiming then reads only tasks that can run (an index range), not
-- every pending task with a look-up of its dependency, which cost 43 ms a claim at 10,000
-- tasks and made a large backlog drain ever slower (store/tasks.h, ClaimTasks).

ALTER TABLE tasks ADD COLUMN waiting INTEGER NOT NULL DEFAULT 0;

UPDATE tasks SET waiting = 1
WHERE state = 'pending' AND depends_on IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM tasks d WHERE d.task_key = tasks.depends_on AND d.state = 'done');

CREATE INDEX tasks_claimable ON tasks (state, waiting, next_run_ms, id);

CREATE INDEX tasks_by_dependency ON tasks (depends_on);
