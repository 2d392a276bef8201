"""What scripts/bench.py, scripts/soak.py and scripts/profile.py share: the
processes (proc), the services they start (services) and Varnish (varnish).
The scripts import it as `shoplab`, from the directory they live in."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
