"""Validate cluster definition files offline (e.g. in a CI job before deploying them)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from orchestration.definition_yaml import DefinitionInvalid, DefinitionTooLarge
from orchestration.definitions import parse_definition


class Command(BaseCommand):
    help = "Validate YAML cluster definitions; prints every problem with its line. Exit 1 if any is invalid."

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", type=Path)

    def handle(self, *args, files: list[Path], **options):
        failed = 0
        for path in files:
            try:
                spec = parse_definition(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, DefinitionTooLarge) as exc:
                failed += 1
                self.stderr.write(f"{path}: {exc}")
                continue
            except DefinitionInvalid as exc:
                failed += 1
                for problem in exc.problems:
                    self.stderr.write(f"{path}:{problem.line}:{problem.column}: {problem.message}")
                continue
            self.stdout.write(f"{path}: ok ({spec['name']}, {len(spec['steps'])} steps)")
        if failed:
            raise CommandError(f"{failed} invalid definition(s)")
