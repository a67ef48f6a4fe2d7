"""The installed app's entry point, for both of its programs (the console `photosort` and the windowed app).

PyInstaller freezes a script run as `__main__`, and `photosort/__main__.py` imports relatively from its
package, so the bundle starts here instead.
"""

from photosort.__main__ import run

if __name__ == "__main__":
    run()
