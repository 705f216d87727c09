"""App Center crash exports are read as .NET traces (``triagebot.stack.extra.appcenter``): frames
before the exception, ``;Module`` suffixes, localised "at" words, Mono frames."""

from __future__ import annotations

from triagebot.stack.detect import find_trace
from triagebot.stack.extra import appcenter
from triagebot.stack.model import Trace
from triagebot.stack.signature import Signer

SIGNER = Signer()

# bench/realworld/traces/dotnet/ps2classics-messagebox-ctor-invalidop.txt
MESSAGEBOX = """### Version 1.0.0.0(1.0.0.0) ###

### Stacktrace ###

PS4_PS2_Classics_Gui__WPF_.MessageBox..ctor(String Text, String Caption, PS4_MessageBoxButton _Buttons, Sound SoundToPlay) in C:\\Users\\user\\Documents\\GitHub\\PS3Tools\\PS4 PS2 Classis GUI\\PS4 PS2 Classics Gui (WPF)\\MessageBox.xaml.cs:line 79;PS4_PS2_Classics_Gui__WPF_.MessageBox

PS4_PS2_Classics_Gui__WPF_.SettingsWindow.client_DownloadFileCompleted(Object sender, AsyncCompletedEventArgs e) in C:\\Users\\user\\Documents\\GitHub\\PS3Tools\\PS4 PS2 Classis GUI\\PS4 PS2 Classics Gui (WPF)\\SettingsWindow.xaml.cs:line 419;PS4_PS2_Classics_Gui__WPF_

### Reason ###

System.InvalidOperationException
"""  # noqa: E501

# bench/realworld/traces/dotnet/ps2classics-messagebox-ctor-invalidop@zh.txt
MESSAGEBOX_ZH = """### Version 1.0.0.24(1.0.0.24) ###

### Stacktrace ###

在 PS4_PS2_Classics_Gui__WPF_.MessageBox..ctor(String Text, String Caption, PS4_MessageBoxButton _Buttons, Sound SoundToPlay);PS4_PS2_Classics_Gui__WPF_.MessageBox

在 PS4_PS2_Classics_Gui__WPF_.SettingsWindow.client_DownloadFileCompleted(Object sender, AsyncCompletedEventArgs e);PS4_PS2_Classics_Gui__WPF_

### Reason ###

System.InvalidOperationException
"""  # noqa: E501

# bench/realworld/traces/dotnet/contoso-trigger-nre.txt (first two frames)
CONTOSO = """### Version 1.10.0(211) ###

### Stacktrace ###

Contoso.Forms.Demo.CrashesContentPage.TriggerNullReferenceException () [0x0001b] in <0c185152babc4929909e2e2b7cc15966>:0;Contoso.Forms.Demo

Contoso.Forms.Demo.CrashesContentPage.<NullReferenceException>b__14_0 () [0x00000] in <0c185152babc4929909e2e2b7cc15966>:0;Contoso.Forms.Demo

### Reason ###

System.NullReferenceException
"""  # noqa: E501

# bench/realworld/traces/dotnet/simpleweather-app-ctor-nre.txt (first frame)
APP_CTOR = """### Stacktrace ###

SimpleWeather.Maui.App..ctor() in /Users/USER/SimpleWeather/SimpleWeather.Maui/Maui/SimpleWeather.Maui/App.xaml.cs:line 88;SimpleWeather.Maui.App

### Reason ###

System.NullReferenceException: Object reference not set to an instance of an object.
"""  # noqa: E501


def _found(text: str) -> Trace:
    trace = find_trace(text)
    assert trace is not None
    return trace


def test_export_is_read_as_a_dotnet_trace() -> None:
    trace = _found(MESSAGEBOX)
    assert (trace.language, trace.frame_count) == ("dotnet", 2)
    assert trace.root is not None and trace.root.type == "System.InvalidOperationException"
    top = trace.root.frames[0]
    assert (top.module, top.function, top.line) == (
        "PS4_PS2_Classics_Gui__WPF_.MessageBox",
        ".ctor",
        79,
    )
    assert SIGNER.sign(trace).title == "InvalidOperationException in MessageBox.ctor"


def test_export_with_an_exception_line_is_read_in_full_for_v2_only() -> None:
    """Its ``Type: message`` line alone was a trace before the reader existed: v2 signs the
    reader's frames, v1 keeps signing that first reading (the value it stored)."""
    trace = _found(APP_CTOR)
    assert trace.language == "dotnet" and trace.frame_count >= 1
    first = trace.first_reading
    assert first is not None and (first.language, first.frame_count) == ("unknown", 0)
    assert Signer("v1").sign(trace).value == Signer("v1").sign(first).value


def test_localised_export_is_the_same_bug() -> None:
    """Frames printed with a localised "at" word and without file lines sign the same."""
    assert SIGNER.sign(_found(MESSAGEBOX_ZH)).value == SIGNER.sign(_found(MESSAGEBOX)).value


def test_export_and_tostring_of_one_crash_are_the_same_bug() -> None:
    """The frames are the .NET parser's own: a crash mailed as ``ToString()`` groups with it."""
    tostring = (
        "System.InvalidOperationException\n"
        "   at PS4_PS2_Classics_Gui__WPF_.MessageBox..ctor(String Text, String Caption, "
        "PS4_MessageBoxButton _Buttons, Sound SoundToPlay) in C:\\src\\MessageBox.xaml.cs:line 79\n"
        "   at PS4_PS2_Classics_Gui__WPF_.SettingsWindow.client_DownloadFileCompleted("
        "Object sender, AsyncCompletedEventArgs e) in C:\\src\\SettingsWindow.xaml.cs:line 419\n"
    )
    assert SIGNER.sign(_found(tostring)).value == SIGNER.sign(_found(MESSAGEBOX)).value


def test_mono_frames_of_another_build_are_the_same_bug() -> None:
    trace = _found(CONTOSO)
    assert (trace.language, trace.frame_count) == ("dotnet", 2)
    other_build = CONTOSO.replace(
        "0c185152babc4929909e2e2b7cc15966", "7bc6e5d7d9d245b9ab9c24ad92329e59"
    ).replace("[0x0001b]", "[0x0002c]")
    assert SIGNER.sign(_found(other_build)).value == SIGNER.sign(trace).value


def test_lookalike_crash_is_another_bug() -> None:
    """Same exception, same caller, another failing function."""
    lookalike = MESSAGEBOX.replace(MESSAGEBOX.split("\n\n")[2] + "\n\n", "")
    trace = _found(lookalike)
    assert trace.frame_count == 1
    title = "InvalidOperationException in SettingsWindow.client_DownloadFileCompleted"
    assert SIGNER.sign(trace).title == title
    assert SIGNER.sign(trace).value != SIGNER.sign(_found(MESSAGEBOX)).value


def test_export_that_lost_its_line_breaks_is_the_same_bug() -> None:
    joined = " ".join(line.strip() for line in MESSAGEBOX.split("\n") if line.strip())
    assert SIGNER.sign(_found(joined)).value == SIGNER.sign(_found(MESSAGEBOX)).value


def test_text_without_an_export_is_not_read() -> None:
    assert appcenter.read("### Stacktrace ### is a heading we use\n\nnothing else\n") is None
    no_frames = "### Stacktrace ###\n\n### Reason ###\n\nSystem.InvalidOperationException\n"
    assert appcenter.read(no_frames) is None
    no_reason = MESSAGEBOX.partition("### Reason ###")[0]
    assert appcenter.read(no_reason) is None
