"""The deploy guide is the README's "Deploy" section; tests read it from there."""

from pathlib import Path


def deploy_guide(repo_root: Path) -> str:
    text = (repo_root / "README.md").read_text(encoding="utf-8")
    start = text.index("\n## Deploy\n")
    end = text.find("\n## ", start + 1)
    return text[start:] if end == -1 else text[start:end]
