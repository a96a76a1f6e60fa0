"""Where the tests find the project and their data, wherever in the test tree they sit."""

from pathlib import Path

SUPPORT = Path(__file__).resolve().parent
PROJECT_ROOT = SUPPORT.parent.parent
SEEDS = SUPPORT / "seeds"  # copies of ../shared/seeds plus expected conversions
MANIFESTS = SUPPORT / "manifests"  # Airbyte manifests written for the tests
CONFIGS = PROJECT_ROOT / "configs"
