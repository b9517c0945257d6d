"""The window manager's settings: what a click, a drag and a key do on a virtual desktop, and nothing more.

Openbox's stock settings open a root menu on a right click whose entries start programs (a terminal among
them) as whoever runs the window manager; on a display that an agent drives, that is a way out of any
sandbox. These settings bind no menu and start no program, unless `terminal` names one, which then runs
where the window manager runs.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

_MOUSE = """
  <mouse>
    <dragThreshold>1</dragThreshold>
    <doubleClickTime>500</doubleClickTime>
    <context name="Frame">
      <mousebind button="A-Left" action="Press"><action name="Focus"/><action name="Raise"/></mousebind>
      <mousebind button="A-Left" action="Drag"><action name="Move"/></mousebind>
    </context>
    <context name="Titlebar">
      <mousebind button="Left" action="Press"><action name="Focus"/><action name="Raise"/></mousebind>
      <mousebind button="Left" action="Drag"><action name="Move"/></mousebind>
      <mousebind button="Left" action="DoubleClick"><action name="ToggleMaximize"/></mousebind>
    </context>
    <context name="Client">
      <mousebind button="Left" action="Press"><action name="Focus"/><action name="Raise"/></mousebind>
      <mousebind button="Middle" action="Press"><action name="Focus"/><action name="Raise"/></mousebind>
      <mousebind button="Right" action="Press"><action name="Focus"/><action name="Raise"/></mousebind>
    </context>
    <context name="Top Bottom Left Right TLCorner TRCorner BLCorner BRCorner">
      <mousebind button="Left" action="Press"><action name="Focus"/><action name="Raise"/></mousebind>
      <mousebind button="Left" action="Drag"><action name="Resize"/></mousebind>
    </context>
    <context name="Close">
      <mousebind button="Left" action="Click"><action name="Close"/></mousebind>
    </context>
    <context name="Maximize">
      <mousebind button="Left" action="Click"><action name="ToggleMaximize"/></mousebind>
    </context>
    <context name="Iconify">
      <mousebind button="Left" action="Click"><action name="Iconify"/></mousebind>
    </context>
  </mouse>"""


def openbox_rc(*, terminal: str | None = None, maximize: bool = False) -> str:
    """Openbox's rc.xml: click to focus, drag to move, Alt+F4 and Alt+Tab; Ctrl+Alt+T runs `terminal` when
    given; `maximize` opens every normal window maximised (as a GNOME desktop does)."""
    keys = [
        '<keybind key="A-F4"><action name="Close"/></keybind>',
        '<keybind key="A-Tab"><action name="NextWindow"/></keybind>',
        '<keybind key="A-S-Tab"><action name="PreviousWindow"/></keybind>',
    ]
    if terminal is not None:
        run = f'<action name="Execute"><command>{escape(terminal)}</command></action>'
        keys.append(f'<keybind key="C-A-t">{run}</keybind>')
    apps = '<application type="normal"><maximized>yes</maximized></application>' if maximize else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<openbox_config xmlns="http://openbox.org/3.4/rc">
  <focus><focusNew>yes</focusNew><followMouse>no</followMouse></focus>
  <placement><policy>Smart</policy></placement>
  <desktops><number>1</number></desktops>
  <menu><file>/dev/null</file></menu>
  <keyboard>
    {chr(10).join("    " + k for k in keys).strip()}
  </keyboard>{_MOUSE}
  <applications>{apps}</applications>
</openbox_config>
"""
