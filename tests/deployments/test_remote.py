"""deployments.remote against a real sshd on loopback (tests/deployments/conftest.py)."""
import os
import subprocess
import threading
import time

import pytest

from deployments import remote
from deployments.remote import (
    HostKeyMismatch,
    RemoteAuthFailed,
    RemotePathRefused,
    RemoteTimeout,
    RemoteUnreachable,
)
from tests.deployments.conftest import ed25519_pair, free_port

HOSTILE = [
    "a;touch pwned",
    "$(touch pwned)",
    "`touch pwned`",
    "it's \"quoted\"",
    "two  spaces and\ttab",
    "line one\nline two",
    "--dash-first",
    "* glob ?",
    "back\\slash $HOME ${PATH} | & > <",
]


def remote_processes(pattern: str) -> list[str]:
    found = subprocess.run(["pgrep", "-af", pattern], capture_output=True, text=True).stdout.splitlines()
    return [line for line in found if "pgrep" not in line]


def wait_until_gone(pattern: str, seconds: float = 5.0) -> list[str]:
    deadline = time.monotonic() + seconds
    while (left := remote_processes(pattern)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


@pytest.mark.parametrize("argument", HOSTILE)
def test_an_argument_stays_one_argument(sshd, workdir, argument):
    result = remote.run(sshd.target(), ["printf", "%s", argument], cwd=str(workdir), timeout=10,
                        max_output_bytes=4096)
    assert (result.exit_status, result.stdout, result.truncated) == (0, argument, False)
    assert not (workdir / "pwned").exists()


def test_touch_creates_exactly_the_named_file(sshd, workdir):
    names = HOSTILE  # any byte but "/" and NUL may be in a file name, newlines too
    remote.run(sshd.target(), ["touch", "--", *names], cwd=str(workdir), timeout=10, max_output_bytes=4096)
    assert sorted(os.listdir(workdir)) == sorted(names)


def test_cwd_with_hostile_characters_is_one_directory(sshd, workdir):
    odd = workdir / "dir; touch pwned $(id)"
    odd.mkdir()
    result = remote.run(sshd.target(), ["pwd"], cwd=str(odd), timeout=10, max_output_bytes=4096)
    assert result.stdout == f"{odd}\n"
    assert not (workdir / "pwned").exists()


def test_exit_status_and_stderr_are_reported(sshd):
    result = remote.run(sshd.target(), ["sh", "-c", "echo out; echo err >&2; exit 3"], timeout=10,
                        max_output_bytes=4096)
    assert (result.exit_status, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert result.host_key == sshd.host_key and result.duration_ms > 0


def test_a_wrong_host_key_fails_before_any_command(sshd, workdir):
    _, other_key = ed25519_pair("impostor")
    marker = workdir / "ran"
    with pytest.raises(HostKeyMismatch) as caught:
        remote.run(sshd.target(host_key=other_key), ["touch", str(marker)], timeout=10, max_output_bytes=100)
    message = str(caught.value)
    assert "did not match the pin" in message
    assert remote.fingerprint(remote.parse_public_key(other_key)[1]) in message
    assert remote.fingerprint(remote.parse_public_key(sshd.host_key)[1]) in message
    assert not marker.exists()


def test_a_missing_pin_fails_unless_trust_on_first_use(sshd, workdir):
    marker = workdir / "ran"
    with pytest.raises(HostKeyMismatch):
        remote.run(sshd.target(host_key=""), ["touch", str(marker)], timeout=10, max_output_bytes=100)
    assert not marker.exists()
    result = remote.run(sshd.target(host_key="", trust_on_first_use=True), ["touch", str(marker)], timeout=10,
                        max_output_bytes=100)
    assert marker.exists() and result.host_key == sshd.host_key


def test_scan_host_key_reads_the_key_to_pin(sshd):
    assert remote.scan_host_key(sshd.address, sshd.port, timeout=5) == sshd.host_key


def test_an_unknown_client_key_is_refused(sshd):
    private, _ = ed25519_pair("stranger")
    with pytest.raises(RemoteAuthFailed, match="refused the deploy key"):
        remote.run(sshd.target(private_key_openssh=private), ["true"], timeout=10, max_output_bytes=100)


def test_a_closed_port_is_unreachable():
    target = remote.SSHTarget("127.0.0.1", free_port(), "root", "", ed25519_pair("x")[1])
    with pytest.raises(RemoteUnreachable):
        remote.run(target, ["true"], timeout=5, max_output_bytes=100)


def test_a_silent_peer_times_out_in_the_connect_phase():
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        _, pin = ed25519_pair("x")
        target = remote.SSHTarget("127.0.0.1", silent.getsockname()[1], "root", "", pin)
        started = time.monotonic()
        with pytest.raises(RemoteUnreachable):
            remote.run(target, ["true"], timeout=5, max_output_bytes=100, connect_timeout=1)
        assert time.monotonic() - started < 4


def test_a_command_past_its_timeout_is_stopped_on_the_host(sshd, workdir):
    started = time.monotonic()
    with pytest.raises(RemoteTimeout) as caught:
        remote.run(sshd.target(), ["sh", "-c", "echo begun; sleep 471; echo never"], cwd=str(workdir), timeout=1,
                   max_output_bytes=100)
    assert time.monotonic() - started < 1 + remote.GRACE_SECONDS + 4
    assert caught.value.partial.stdout == "begun\n"
    assert wait_until_gone("sleep 471") == []


def test_output_is_capped_and_keeps_its_end(sshd):
    result = remote.run(sshd.target(), ["sh", "-c", "seq 1 100000; echo LAST"], timeout=20, max_output_bytes=1000)
    assert result.truncated and len(result.stdout.encode()) == 1000
    assert result.stdout.endswith("100000\nLAST\n") and result.exit_status == 0


# --- follow -------------------------------------------------------------------------------------
def follow(sshd, path, **bounds):
    limits = {"lines": 10, "max_lines": 1000, "max_bytes": 1 << 20, "max_seconds": 10, "idle_seconds": 5}
    return remote.follow(sshd.target(), str(path), **{**limits, **bounds})


def drain(generator) -> tuple[list[str], str]:
    """All lines of a follow and why it ended (its return value)."""
    lines = []
    while True:
        try:
            lines.append(next(generator))
        except StopIteration as end:
            return lines, end.value


def test_follow_tails_then_follows_new_lines(sshd, workdir):
    log = workdir / "app.log"
    log.write_text("".join(f"old {n}\n" for n in range(20)))
    lines = follow(sshd, log, lines=3, max_lines=5)
    seen = [next(lines) for _ in range(3)]
    with open(log, "a") as f:
        f.write("new 1\nnew 2\n")
    rest, end = drain(lines)
    assert (seen + rest, end) == (["old 17", "old 18", "old 19", "new 1", "new 2"], "max_lines")


def test_follow_stops_at_max_bytes(sshd, workdir):
    log = workdir / "app.log"
    log.write_text("".join(f"{n:09d}\n" for n in range(100)))  # 10 bytes a line
    lines, end = drain(follow(sshd, log, lines=100, max_bytes=55))
    assert (len(lines), end) == (5, "max_bytes")


def test_follow_stops_at_max_seconds(sshd, workdir):
    log = workdir / "app.log"
    log.write_text("")
    stop = threading.Event()

    def chatter():
        while not stop.wait(0.1):
            with open(log, "a") as f:
                f.write("tick\n")

    threading.Thread(target=chatter).start()
    try:
        started = time.monotonic()
        lines, end = drain(follow(sshd, log, max_seconds=1.5, idle_seconds=1))
        assert 1.4 < time.monotonic() - started < 6 and lines and set(lines) == {"tick"} and end == "max_seconds"
    finally:
        stop.set()


def test_follow_stops_when_idle(sshd, workdir):
    log = workdir / "app.log"
    log.write_text("only\n")
    started = time.monotonic()
    assert drain(follow(sshd, log, idle_seconds=1, max_seconds=20)) == (["only"], "idle_seconds")
    assert time.monotonic() - started < 6  # connecting, then 1 s idle


def test_closing_the_follow_leaves_no_process_on_the_host(sshd, workdir):
    log = workdir / "closing.log"
    log.write_text("a\nb\n")
    lines = follow(sshd, log, idle_seconds=60, max_seconds=60)
    assert next(lines) == "a"
    assert remote_processes(f"tail -n 10 -F -- {log}")
    lines.close()
    assert wait_until_gone(f"tail -n 10 -F -- {log}") == []


def test_a_stop_from_another_thread_ends_an_idle_follow(sshd, workdir):
    log = workdir / "stopped.log"
    log.write_text("a\n")
    stop = threading.Event()
    threading.Timer(1.0, stop.set).start()
    started = time.monotonic()
    assert drain(remote.follow(sshd.target(), str(log), lines=10, max_lines=100, max_bytes=1000, max_seconds=60,
                               idle_seconds=60, stop=stop)) == (["a"], "stopped")
    assert time.monotonic() - started < 4 and wait_until_gone(f"tail -n 10 -F -- {log}") == []


def test_a_finished_follow_command_says_it_exited(sshd):
    assert drain(remote.follow_command(sshd.target(), ["printf", "one\ntwo"], max_lines=10, max_bytes=1000,
                                       max_seconds=5, idle_seconds=5)) == (["one", "two"], "exited")


def test_a_failing_follow_command_raises_with_its_error(sshd, workdir):
    with pytest.raises(remote.RemoteError, match="exited with status 2"):
        list(remote.follow_command(sshd.target(), ["sh", "-c", "echo no such service >&2; exit 2"],
                                   max_lines=10, max_bytes=1000, max_seconds=5, idle_seconds=5))


# --- resolve_inside -----------------------------------------------------------------------------
def test_resolve_inside_answers_the_real_path(sshd, workdir):
    (workdir / "logs").mkdir()
    (workdir / "logs" / "app.log").write_text("x")
    assert remote.resolve_inside(sshd.target(), str(workdir), "logs/./app.log") == str(workdir / "logs" / "app.log")


@pytest.mark.parametrize("relative", ["../outside.log", "logs/../../outside.log", "/etc/passwd", "missing.log", ""])
def test_resolve_inside_refuses_paths_that_leave_or_do_not_exist(sshd, workdir, relative):
    (workdir / "logs").mkdir()
    (workdir.parent / "outside.log").write_text("secret")
    with pytest.raises(RemotePathRefused):
        remote.resolve_inside(sshd.target(), str(workdir), relative)


def test_resolve_inside_refuses_a_symlink_pointing_outside(sshd, workdir, tmp_path):
    secret = tmp_path / "secret.log"
    secret.write_text("secret")
    (workdir / "app.log").symlink_to(secret)
    (workdir / "logs").symlink_to(tmp_path)
    for relative in ("app.log", "logs/secret.log"):
        with pytest.raises(RemotePathRefused, match="outside"):
            remote.resolve_inside(sshd.target(), str(workdir), relative)


def test_a_pin_of_a_type_the_host_lacks_is_a_mismatch(sshd, workdir):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    public = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    pin = public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    with pytest.raises(HostKeyMismatch, match="offers no ssh-rsa host key"):
        remote.run(sshd.target(host_key=pin), ["touch", str(workdir / "ran")], timeout=10, max_output_bytes=100)
    assert not (workdir / "ran").exists()
