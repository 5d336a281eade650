"""What may reach a remote command: names, directories, log files, argv lists (deployments.validation)."""
import pytest

from deployments import validation
from deployments.validation import Invalid


@pytest.mark.parametrize("name", ["web", "a", "web-1", "0day", "x" * 63])
def test_a_dns_label_is_accepted(name):
    assert validation.dns_label(name) == name


@pytest.mark.parametrize("name", ["", "-web", "web-", "Web", "we_b", "we.b", "x" * 64, "a b", "a;b", "$(x)", 7])
def test_anything_else_is_not_a_name(name):
    with pytest.raises(Invalid):
        validation.dns_label(name)


@pytest.mark.parametrize("path", ["/srv/app", "/home/deploy/my app", "/a"])
def test_a_directory_is_absolute_and_normalised(path):
    assert validation.directory(path) == path


@pytest.mark.parametrize("path", ["", "/", "srv/app", "/srv/../etc", "/srv/./app", "/srv//app", "/srv/app/",
                                  "//srv", "/srv/app\n", "/srv/\x00", "~/app", "/srv/${{ secrets.X }}"])
def test_a_directory_that_is_relative_or_not_normalised_is_refused(path):
    with pytest.raises(Invalid):
        validation.directory(path)


@pytest.mark.parametrize("path", ["app.log", "logs/app.log", "logs/..app.log", "a b.log"])
def test_a_log_file_inside_the_directory_is_accepted(path):
    assert validation.log_file(path) == path


@pytest.mark.parametrize("path", ["../etc/passwd", "/etc/passwd", "logs/../../etc/passwd", "..", ".", "logs/..",
                                  "./app.log", "logs//app.log", "logs/", "~root/x", "a\nb", "a\x00b", ""])
def test_a_log_file_that_escapes_or_is_not_normalised_is_refused(path):
    with pytest.raises(Invalid):
        validation.log_file(path)


@pytest.mark.parametrize("argv", [["touch", "a; rm -rf x"], ["echo", "$(id)"], ["echo", "it's \"q\""],
                                  ["sh", "-c", "echo one\necho two"], ["printf", "%s", "two  spaces\tand tab"]])
def test_an_argv_keeps_any_text_in_its_arguments(argv):
    assert validation.argv(argv) == argv


@pytest.mark.parametrize("argv", [[], "docker compose up", ["docker", 1], [""], ["a\x00b"], None,
                                  ["echo", "${{ secrets.TOKEN }}"], ["x"] * 65, ["x" * 4097]])
def test_an_argv_that_is_no_list_of_strings_is_refused(argv):
    with pytest.raises(Invalid):
        validation.argv(argv)


def test_deploy_steps_errors_name_the_step():
    with pytest.raises(Invalid) as caught:
        validation.deploy_steps([["git", "pull"], "docker compose up"])
    assert set(caught.value.detail) == {"1"}


def test_services_are_checked_field_by_field():
    services = [
        {"name": "web", "log_file": "logs/web.log", "restart": ["docker", "compose", "restart", "web"],
         "healthcheck_url": "http://127.0.0.1:8000/health"},
        {"name": "Worker", "log_file": "../x", "restart": "docker restart", "healthcheck_url": "ftp://x"},
        {"name": "web"},
        {"name": "db", "shell": "bash"},
    ]
    with pytest.raises(Invalid) as caught:
        validation.services(services)
    detail = caught.value.detail
    assert set(detail) == {"1", "2", "3"}
    assert set(detail["1"]) == {"name", "log_file", "restart", "healthcheck_url"}
    assert detail["2"] == {"name": ["Another service has this name."]}
    assert detail["3"] == {"shell": ["Unknown field."]}
    assert validation.services(services[:1]) == services[:1]
