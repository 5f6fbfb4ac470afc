"""What the firewall backends' unit tests share: a recorded command runner and the binaries every backend finds."""


def recorded(outputs):
    """A runner for the backends: answers a command by the first prefix of ``outputs`` its argv starts with
    (``(rc, stdout, stderr)``; ``(0, "", "")`` otherwise) and records every call as ``(argv, data)`` in ``.calls``."""
    calls = []

    def run(argv, data=None):
        calls.append((argv, data))
        for prefix, answer in outputs.items():
            if " ".join(argv).startswith(prefix):
                return answer
        return 0, "", ""
    run.calls = calls
    return run


def which_all(name):
    """Every binary found, in /usr/sbin."""
    return "/usr/sbin/" + name
