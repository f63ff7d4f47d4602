import subprocess
import sys


def test_a_reader_that_stops_early_is_not_an_error():
    """``python -m metrics protocols | head -1``: the closed pipe ends the command quietly with exit 0."""
    code = ("import sys; from sa_util.cli import guarded\n"
            "@guarded\n"
            "def main():\n"
            "    for i in range(200000):\n"
            "        print('a line of the listing', i)\n"
            "    return 0\n"
            "sys.exit(main())\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline().startswith(b"a line")
    proc.stdout.close()  # as `head -1` does: the writer's next full pipe write fails
    assert proc.wait(timeout=60) == 0
    assert proc.stderr.read() == b""
