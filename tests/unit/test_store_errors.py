"""Which MySQL errors a store operation may run again after: lock races only."""

import pymysql

from lambda_function import lock_conflict


def test_deadlocks_and_lock_wait_timeouts_are_races_to_run_again():
    assert lock_conflict(pymysql.OperationalError(1213, "Deadlock found when trying to get lock"))
    assert lock_conflict(pymysql.OperationalError(1205, "Lock wait timeout exceeded"))


def test_other_errors_are_faults():
    assert not lock_conflict(pymysql.OperationalError(2003, "Can't connect to MySQL server"))
    assert not lock_conflict(pymysql.ProgrammingError(1146, "Table 'music.co_asks' doesn't exist"))
    assert not lock_conflict(pymysql.InterfaceError())
    assert not lock_conflict(TimeoutError("timed out"))
