"""The installed app's entry point, for both of its programs (the console `photosort` and the windowed app).

PyInstaller freezes a script run as `__main__`, and photosort's own modules import relatively from their
package, so the bundle starts here instead.
"""

from photosort.cli import run

if __name__ == "__main__":
    run()
