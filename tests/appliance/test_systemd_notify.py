"""sd_notify messages reach a real datagram socket; the watchdog pings only while both
the main loop and the output thread move."""

import os
import socket
import uuid

import pytest

from stagebox.systemd import Notifier, Watchdog, watchdog_interval_s


@pytest.fixture
def path_socket(tmp_path):
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(1.0)
    yield str(path), sock
    sock.close()


def received(sock: socket.socket) -> list[str]:
    return sock.recv(4096).decode().split("\n")


def test_ready_status_watchdog_and_stopping_arrive_as_systemd_expects(path_socket):
    address, sock = path_socket
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": address})
    assert notifier.enabled
    assert notifier.ready("Playing  1/12\nsong")
    assert received(sock) == ["READY=1", "STATUS=Playing 1/12 song"]
    notifier.status("No stick")
    assert received(sock) == ["STATUS=No stick"]
    notifier.watchdog()
    assert received(sock) == ["WATCHDOG=1"]
    notifier.stopping()
    assert received(sock) == ["STOPPING=1"]
    notifier.close()


def test_an_abstract_socket_address_starting_with_at_is_used():
    name = f"stagebox-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.settimeout(1.0)
    try:
        assert Notifier(f"@{name}").ready()
        assert received(sock) == ["READY=1"]
    finally:
        sock.close()


def test_without_notify_socket_nothing_is_sent_and_nothing_fails():
    notifier = Notifier.from_environment({})
    assert not notifier.enabled
    assert not notifier.ready("x")
    assert not notifier.watchdog()


def test_a_vanished_socket_is_a_warning_not_a_crash(tmp_path, caplog):
    notifier = Notifier(str(tmp_path / "gone"))
    assert not notifier.watchdog()
    assert not notifier.watchdog()
    assert sum("cannot notify systemd" in r.message for r in caplog.records) == 1


def test_watchdog_interval_is_half_the_period_and_only_for_our_pid():
    env = {"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": str(os.getpid())}
    assert watchdog_interval_s(env) == 5.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "10000000"}) == 5.0
    assert watchdog_interval_s({**env, "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval_s({}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "soon"}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "0"}) is None


def test_watchdog_pings_while_main_loop_and_output_thread_move(path_socket):
    address, sock = path_socket
    watchdog = Watchdog(Notifier(address), interval_s=5.0)
    assert watchdog.enabled
    assert watchdog.tick(0.0, output_count=0)
    assert received(sock) == ["WATCHDOG=1"]
    assert not watchdog.tick(1.0, output_count=40)  # not due yet
    assert watchdog.tick(5.0, output_count=200)
    assert received(sock) == ["WATCHDOG=1"]
    assert watchdog.pings == 2


def test_a_stuck_output_thread_stops_the_pings_until_it_moves_again(path_socket):
    address, _ = path_socket
    watchdog = Watchdog(Notifier(address), interval_s=5.0)
    watchdog.tick(0.0, output_count=10)
    for now_s in (5.0, 10.0, 20.0, 60.0):
        assert not watchdog.tick(now_s, output_count=10)
    assert watchdog.tick(61.0, output_count=11)
    assert watchdog.pings == 2


def test_no_watchdog_asked_for_never_pings(path_socket):
    address, _ = path_socket
    watchdog = Watchdog.from_environment(Notifier(address), {})
    assert not watchdog.enabled
    assert not watchdog.tick(100.0, output_count=5)
