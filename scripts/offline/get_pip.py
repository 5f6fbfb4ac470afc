"""Offline stand-in for ansible-test's pip bootstrap script (get-pip-<version>.py).

ansible-test runs the cached bootstrap script inside a fresh virtual environment that has
no pip, with the arguments it would give get-pip.py: pip options, the exact packages
(``pip==24.2`` ...) and ``--no-setuptools`` / ``--no-wheel``. The real script carries a pip
wheel inside it and comes from a host this network cannot reach. This one does the same
job honestly: it runs the pip wheel that ships with this Python (``ensurepip``'s bundled
wheel, or Debian's /usr/share/python-wheels) straight from the wheel file, and that pip
installs exactly the requested packages from the package index this machine reaches
(pip's own configuration files apply). Nothing else is installed.
"""

import glob
import os
import subprocess
import sys

GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}


def bundled_pip_wheel():
    places = []
    try:
        import ensurepip
        places.append(os.path.join(os.path.dirname(ensurepip.__file__), "_bundled"))
    except ImportError:
        pass
    places.append("/usr/share/python-wheels")
    for place in places:
        wheels = sorted(glob.glob(os.path.join(place, "pip-*.whl")))
        if wheels:
            return wheels[-1]
    return None


def main():
    args = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY]
    wheel = bundled_pip_wheel()
    if wheel:
        # A pip wheel is runnable: python pip-X.whl/pip install ...
        cmd = [sys.executable, os.path.join(wheel, "pip"), "install"] + args
    else:
        subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
        cmd = [sys.executable, "-m", "pip", "install"] + args
    subprocess.check_call(cmd)


if __name__ == "__main__":
    main()
