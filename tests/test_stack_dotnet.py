""".NET trace parser and frame normaliser (``dotnet:v1``)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triagebot.stack import NormalizedFrame
from triagebot.stack.dotnet import LANGUAGE, normalize_frame, parse
from triagebot.stack.model import Frame, Trace

FRAMEWORK_INNER = """\
System.InvalidOperationException: Could not load case 17. ---> System.NullReferenceException: \
Object reference not set to an instance of an object.
   at Acme.Cases.CaseViewModel.Load(Int32 id) in \
C:\\build\\agent\\src\\Cases\\CaseViewModel.cs:line 42
   at Acme.Cases.CaseViewModel.<LoadAsync>d__12.MoveNext()
   --- End of inner exception stack trace ---
   at Acme.Cases.CaseController.Get(Int32 id) in \
C:\\build\\agent\\src\\Cases\\CaseController.cs:line 17
   at System.Web.Mvc.ActionMethodDispatcher.Execute(ControllerBase controller, Object[] parameters)
"""

CORE_INNER = """\
Unhandled exception. System.InvalidOperationException: Saving the invoice failed.
 ---> Microsoft.Data.SqlClient.SqlException (0x80131904): \
Violation of PRIMARY KEY constraint 'PK_Invoice'.
The statement has been terminated.
   at Microsoft.Data.SqlClient.SqlCommand.ExecuteNonQuery()
   at Acme.Billing.InvoiceRepository.Save(Invoice invoice) in \
/src/Billing/InvoiceRepository.cs:line 88
   --- End of inner exception stack trace ---
   at Acme.Billing.InvoiceService.<SaveAsync>d__7.MoveNext() in \
/src/Billing/InvoiceService.cs:line 31
--- End of stack trace from previous location ---
   at System.Runtime.CompilerServices.TaskAwaiter.ThrowForNonSuccess(Task task)
   at Acme.Billing.Program.<Main>$(String[] args) in /src/Billing/Program.cs:line 12
"""

AGGREGATE_CORE = """\
System.AggregateException: One or more errors occurred. (Connection refused) (Disk full)
 ---> System.Net.Http.HttpRequestException: Connection refused (sync.acme.test:443)
 ---> System.Net.Sockets.SocketException (111): Connection refused
   at System.Net.Sockets.Socket.AwaitableSocketAsyncEventArgs.ThrowException(SocketError error)
   at System.Net.Http.HttpConnectionPool.ConnectToTcpHostAsync(String host, Int32 port)
   --- End of inner exception stack trace ---
   at System.Net.Http.HttpConnectionPool.ConnectToTcpHostAsync(String host, Int32 port)
   at Acme.Sync.SyncClient.<PushAsync>d__4.MoveNext() in /src/Sync/SyncClient.cs:line 88
   --- End of inner exception stack trace ---
   at System.Threading.Tasks.Task.Wait()
   at Acme.Sync.Program.Main(String[] args) in /src/Sync/Program.cs:line 20
 ---> (Inner Exception #1) System.IO.IOException: Disk full
   at Acme.Sync.Spool.Write(Byte[] data) in /src/Sync/Spool.cs:line 5
   at Acme.Sync.SyncClient.<>c__DisplayClass5_0.<Run>b__0() in /src/Sync/SyncClient.cs:line 40<---

"""

AGGREGATE_FRAMEWORK = """\
System.AggregateException: One or more errors occurred. ---> System.TimeoutException: \
The operation timed out.
   at Acme.Server.Jobs.ExportJob.Run() in D:\\agent\\_work\\3\\s\\Server\\Jobs\\ExportJob.cs:line 55
   at System.Threading.Tasks.Task.Execute()
   --- End of inner exception stack trace ---
   at System.Threading.Tasks.Task.WaitAll(Task[] tasks, Int32 millisecondsTimeout)
   at Acme.Server.Scheduler.Tick() in D:\\agent\\_work\\3\\s\\Server\\Scheduler.cs:line 120
---> (Inner Exception #0) System.TimeoutException: The operation timed out.
   at Acme.Server.Jobs.ExportJob.Run() in D:\\agent\\_work\\3\\s\\Server\\Jobs\\ExportJob.cs:line 55
   at System.Threading.Tasks.Task.Execute()<---

---> (Inner Exception #1) System.UnauthorizedAccessException: \
Access to the path 'E:\\export' is denied.<---
"""

WEB_EXCEPTION = """\
System.Net.WebException: Unable to connect to the remote server ---> \
System.Net.Sockets.SocketException (10060): A connection attempt failed because the connected \
party did not properly respond after a period of time
   at System.Net.Sockets.Socket.DoConnect(EndPoint endPointSnapshot, SocketAddress socketAddress)
   at System.Net.ServicePoint.ConnectSocketInternal(Boolean connectFailure, Socket s4, Socket s6)
   --- End of inner exception stack trace ---
   at System.Net.HttpWebRequest.GetResponse()
   at Acme.Client.Update.Updater.Check() in C:\\src\\Client\\Update\\Updater.cs:line 64
"""

GERMAN = """\
System.InvalidOperationException: Der Vorgang ist ungültig. ---> System.IO.FileNotFoundException: \
Die Datei "C:\\daten\\fall.xml" konnte nicht gefunden werden.
   bei System.IO.__Error.WinIOError(Int32 errorCode, String maybeFullPath)
--- Ende der Stapelüberwachung vom vorhergehenden Ort, an dem die Ausnahme ausgelöst wurde ---
   bei Acme.Cases.CaseStore.Open(String pfad) in C:\\src\\Cases\\CaseStore.cs:Zeile 42
   --- Ende der internen Ausnahmestapelüberwachung ---
   bei Acme.Cases.CaseViewModel.Load(Int32 id) in C:\\src\\Cases\\CaseViewModel.cs:Zeile 19
"""

FRENCH = """\
System.InvalidOperationException: Opération non valide. ---> System.ArgumentNullException: \
La valeur ne peut pas être null.
Nom du paramètre : client
   à Acme.Cases.CaseService.Assign(Client client) dans C:\\src\\Cases\\CaseService.cs:ligne 42
   --- Fin de la trace de la pile d'exception interne ---
   à Acme.Cases.CaseViewModel.Save() dans C:\\src\\Cases\\CaseViewModel.cs:ligne 77
   à System.Windows.Input.RoutedCommand.Execute(Object parameter, IInputElement target)
"""

SPANISH = """\
Excepción no controlada: System.NullReferenceException: Referencia a objeto no establecida como \
instancia de un objeto.
   en Acme.Cases.CaseViewModel.Load(Int32 id) en C:\\src\\Cases\\CaseViewModel.cs:línea 42
   en Acme.Cases.Shell.OnStartup(StartupEventArgs e) en C:\\src\\Shell.cs:línea 9
"""

EMAIL = """\
Hello helpdesk,

the smart client crashed again while I was opening a case. Details below.

Application: Acme.Client.exe
Version: 4.2.1.733
User: ACME\\bob
Machine: WS-0042

Unhandled Exception: Acme.Cases.CaseLockedException: Case 17 is locked by alice.
   at Acme.Cases.CaseService.Lock(Int32 id) in C:\\build\\agent\\src\\Cases\\CaseService.cs:line 12
   at Acme.Cases.CaseViewModel.<>c.<Open>b__3_0(Object s) in \
C:\\build\\agent\\src\\Cases\\CaseViewModel.cs:line 98
   at System.Windows.Threading.ExceptionWrapper.InternalRealCall(Delegate callback, Object args, \
Int32 numArgs)

Kind regards,
Bob
"""

NO_TRACE_BODY = (
    "Hello team,\n\nat the moment the client is slow in the morning. It happens at login and "
    "when we open cases in the (new) search window. Regards, Bob\n"
    "Application: Acme.Client.exe\nVersion: 4.2.1\n"
) * 16


def only(text: str) -> Trace:
    trace = parse(text)
    assert trace is not None
    return trace


def funcs(trace: Trace, index: int) -> list[str]:
    return [f"{f.module}|{f.function}" for f in trace.exceptions[index].frames]


class TestChain:
    def test_framework_inner_exception_on_the_first_line(self) -> None:
        """``A: msg ---> B: msg`` gives A then B, with the inner stack given to B."""
        trace = only(FRAMEWORK_INNER)
        assert trace.language == "dotnet"
        assert [e.type for e in trace.exceptions] == [
            "System.InvalidOperationException",
            "System.NullReferenceException",
        ]
        outer, inner = trace.exceptions
        assert outer.message == "Could not load case 17."
        assert inner.message == "Object reference not set to an instance of an object."
        assert funcs(trace, 1) == [
            "Acme.Cases.CaseViewModel|Load",
            "Acme.Cases.CaseViewModel|<LoadAsync>d__12.MoveNext",
        ]
        assert funcs(trace, 0) == [
            "Acme.Cases.CaseController|Get",
            "System.Web.Mvc.ActionMethodDispatcher|Execute",
        ]
        first = inner.frames[0]
        assert first.file == "C:\\build\\agent\\src\\Cases\\CaseViewModel.cs"
        assert first.line == 42
        assert first.raw.startswith("at Acme.Cases.CaseViewModel.Load(Int32 id) in C:")
        assert inner.frames[1].file is None and inner.frames[1].line is None
        assert trace.root is inner

    def test_core_inner_exception_on_its_own_line_with_multiline_message(self) -> None:
        """.NET Core's `` ---> `` line and a two-line SQL message; the code leaves the type."""
        trace = only(CORE_INNER)
        outer, inner = trace.exceptions
        assert outer.type == "System.InvalidOperationException"
        assert outer.message == "Saving the invoice failed."
        assert inner.type == "Microsoft.Data.SqlClient.SqlException"
        assert inner.message == (
            "Violation of PRIMARY KEY constraint 'PK_Invoice'.\nThe statement has been terminated."
        )
        assert len(inner.frames) == 2
        # "End of stack trace from previous location" separates, it does not start a new block
        assert funcs(trace, 0) == [
            "Acme.Billing.InvoiceService|<SaveAsync>d__7.MoveNext",
            "System.Runtime.CompilerServices.TaskAwaiter|ThrowForNonSuccess",
            "Acme.Billing.Program|<Main>$",
        ]

    def test_web_exception_with_socket_error_code(self) -> None:
        """``SocketException (10060):`` keeps a clean type and the full message."""
        trace = only(WEB_EXCEPTION)
        assert [e.type for e in trace.exceptions] == [
            "System.Net.WebException",
            "System.Net.Sockets.SocketException",
        ]
        assert trace.exceptions[1].message.startswith("A connection attempt failed because")
        assert trace.exceptions[0].message == "Unable to connect to the remote server"
        assert [len(e.frames) for e in trace.exceptions] == [2, 2]
        assert trace.exceptions[0].frames[1].line == 64

    def test_aggregate_core_three_levels_and_extra_inner_exception(self) -> None:
        """Three nested levels map to their blocks; ``(Inner Exception #1)`` is a side exception."""
        trace = only(AGGREGATE_CORE)
        assert [e.type for e in trace.exceptions] == [
            "System.AggregateException",
            "System.IO.IOException",
            "System.Net.Http.HttpRequestException",
            "System.Net.Sockets.SocketException",
        ]
        agg, disk, http, socket = trace.exceptions
        assert agg.message == "One or more errors occurred. (Connection refused) (Disk full)"
        assert http.message == "Connection refused (sync.acme.test:443)"
        assert [f.function for f in agg.frames] == ["Wait", "Main"]
        assert [f.function for f in http.frames] == [
            "ConnectToTcpHostAsync",
            "<PushAsync>d__4.MoveNext",
        ]
        assert [f.function for f in socket.frames] == ["ThrowException", "ConnectToTcpHostAsync"]
        assert disk.message == "Disk full"
        assert [f.function for f in disk.frames] == ["Write", "<>c__DisplayClass5_0.<Run>b__0"]
        assert trace.root is socket

    def test_aggregate_framework_drops_repeated_first_inner(self) -> None:
        """.NET Framework prints inner #0 twice: the repeat is dropped, #1 without frames kept."""
        trace = only(AGGREGATE_FRAMEWORK)
        assert [e.type for e in trace.exceptions] == [
            "System.AggregateException",
            "System.UnauthorizedAccessException",
            "System.TimeoutException",
        ]
        agg, denied, timeout = trace.exceptions
        assert [f.function for f in agg.frames] == ["WaitAll", "Tick"]
        assert [f.function for f in timeout.frames] == ["Run", "Execute"]
        assert denied.message == "Access to the path 'E:\\export' is denied."
        assert denied.frames == ()
        assert timeout.frames[0].file == "D:\\agent\\_work\\3\\s\\Server\\Jobs\\ExportJob.cs"

    def test_inner_exception_without_frames(self) -> None:
        """An inner exception that was never thrown has an empty block before its end marker."""
        text = (
            "System.ApplicationException: Import failed\n"
            " ---> System.FormatException: Input string was not in a correct format.\n"
            "   --- End of inner exception stack trace ---\n"
            "   at Acme.Import.Importer.Run() in /src/Importer.cs:line 9\n"
        )
        trace = only(text)
        assert [e.type for e in trace.exceptions] == [
            "System.ApplicationException",
            "System.FormatException",
        ]
        assert [len(e.frames) for e in trace.exceptions] == [1, 0]

    def test_exception_of_type_was_thrown_message(self) -> None:
        """The default message names the type; nested ``+`` type names are kept whole."""
        trace = only(
            "Acme.Cases.CaseService+ConcurrencyException: Exception of type "
            "'Acme.Cases.CaseService+ConcurrencyException' was thrown.\n"
            "   at Acme.Cases.CaseService.Save(Case c)\n"
        )
        (exc,) = trace.exceptions
        assert exc.type == "Acme.Cases.CaseService+ConcurrencyException"
        assert exc.short_type == "CaseService+ConcurrencyException"
        assert (
            exc.message
            == "Exception of type 'Acme.Cases.CaseService+ConcurrencyException' was thrown."
        )

    def test_windows_event_log_without_message(self) -> None:
        """``Exception Info: Type`` with no message still names the type."""
        trace = only(
            "Application: Acme.Server.Host.exe\nFramework Version: v4.0.30319\n"
            "Description: The process was terminated due to an unhandled exception.\n"
            "Exception Info: System.IO.FileNotFoundException\n"
            "   at Acme.Server.Host.Boot.LoadPlugins()\n"
            "   at Acme.Server.Host.Service.OnStart(String[] args)\n"
        )
        (exc,) = trace.exceptions
        assert exc.type == "System.IO.FileNotFoundException"
        assert exc.message == ""
        assert [f.function for f in exc.frames] == ["LoadPlugins", "OnStart"]

    def test_frames_without_header(self) -> None:
        """Frames pasted without their exception line still parse, with an empty type."""
        trace = only("see below\n   at Acme.X.Run()\n   at Acme.X.Main(String[] args)\n")
        assert trace.exceptions[0].type == ""
        assert trace.frame_count == 2


class TestFrames:
    @pytest.mark.parametrize(
        ("line", "module", "function", "file", "number"),
        [
            (
                "   at Acme.Cases.CaseViewModel.Load(Int32 id) in C:\\src\\CaseViewModel.cs:"
                "line 42",
                "Acme.Cases.CaseViewModel",
                "Load",
                "C:\\src\\CaseViewModel.cs",
                42,
            ),
            (
                "   at Acme.X.<LoadAsync>d__12.MoveNext()",
                "Acme.X",
                "<LoadAsync>d__12.MoveNext",
                None,
                None,
            ),
            (
                "   at Acme.X.<>c__DisplayClass5_0.<Run>b__0()",
                "Acme.X",
                "<>c__DisplayClass5_0.<Run>b__0",
                None,
                None,
            ),
            ("   at Acme.X.<>c.<Main>b__0_0(Object s)", "Acme.X", "<>c.<Main>b__0_0", None, None),
            ("   at Acme.Data.Repo`1..ctor(String name)", "Acme.Data.Repo`1", ".ctor", None, None),
            (
                "   at Acme.Data.Repo`1.Get[TKey](TKey key) in /src/Repo.cs:line 7",
                "Acme.Data.Repo`1",
                "Get[TKey]",
                "/src/Repo.cs",
                7,
            ),
            (
                "   at Acme.X.Load(String path) in C:\\Program Files\\Acme\\src\\X.cs:line 3",
                "Acme.X",
                "Load",
                "C:\\Program Files\\Acme\\src\\X.cs",
                3,
            ),
            (
                "  at Acme.Mobile.CasePage.OnAppearing () [0x0001a] in /src/CasePage.cs:55 ",
                "Acme.Mobile.CasePage",
                "OnAppearing",
                "/src/CasePage.cs",
                55,
            ),
        ],
    )
    def test_frame_split(
        self, line: str, module: str, function: str, file: str | None, number: int | None
    ) -> None:
        """Module, function, file and line are split as printed (Mono included)."""
        trace = only(f"System.Exception: boom\n{line}\n")
        (frame,) = trace.exceptions[0].frames
        assert (frame.module, frame.function) == (module, function)
        assert (frame.file, frame.line) == (file, number)


class TestLocalized:
    def test_german(self) -> None:
        """``bei ... in ...:Zeile N`` and the German inner-stack marker."""
        trace = only(GERMAN)
        outer, inner = trace.exceptions
        assert inner.type == "System.IO.FileNotFoundException"
        assert inner.message.startswith('Die Datei "C:\\daten\\fall.xml"')
        assert [(f.function, f.line) for f in inner.frames] == [("WinIOError", None), ("Open", 42)]
        assert [(f.module, f.line) for f in outer.frames] == [("Acme.Cases.CaseViewModel", 19)]
        assert inner.frames[1].file == "C:\\src\\Cases\\CaseStore.cs"

    def test_french(self) -> None:
        """``à ... dans ...:ligne N``, the French marker and a two-line message."""
        trace = only(FRENCH)
        outer, inner = trace.exceptions
        assert inner.type == "System.ArgumentNullException"
        assert inner.message == "La valeur ne peut pas être null.\nNom du paramètre : client"
        assert [(f.function, f.line) for f in inner.frames] == [("Assign", 42)]
        assert [(f.function, f.line) for f in outer.frames] == [("Save", 77), ("Execute", None)]

    def test_spanish(self) -> None:
        """``en ... en ...:línea N`` and a localised "unhandled exception" prefix."""
        trace = only(SPANISH)
        (exc,) = trace.exceptions
        assert exc.type == "System.NullReferenceException"
        assert [(f.function, f.file, f.line) for f in exc.frames] == [
            ("Load", "C:\\src\\Cases\\CaseViewModel.cs", 42),
            ("OnStartup", "C:\\src\\Shell.cs", 9),
        ]

    @pytest.mark.parametrize(
        "line",
        [
            "   в Acme.X.Load(Int32 id) в C:\\src\\X.cs:строка 42",
            "   em Acme.X.Load(Int32 id) em C:\\src\\X.cs:linha 42",
            "   in Acme.X.Load(Int32 id) in C:\\src\\X.cs:riga 42",
            "   w Acme.X.Load(Int32 id) w C:\\src\\X.cs:wiersz 42",
            "   bij Acme.X.Load(Int32 id) in C:\\src\\X.cs:regel 42",
            "   場所 Acme.X.Load(Int32 id) 場所 C:\\src\\X.cs:行 42",
            "   在 Acme.X.Load(Int32 id) 位置 C:\\src\\X.cs:行号 42",
        ],
    )
    def test_other_runtime_languages(self, line: str) -> None:
        """Russian, Portuguese, Italian, Polish, Dutch, Japanese and Chinese frame lines."""
        (frame,) = only(f"System.Exception: x\n{line}\n").exceptions[0].frames
        assert (frame.module, frame.function, frame.file, frame.line) == (
            "Acme.X",
            "Load",
            "C:\\src\\X.cs",
            42,
        )


class TestFinding:
    def test_trace_buried_in_an_email(self) -> None:
        """Greeting, environment lines and a signature around the trace are ignored."""
        trace = only(EMAIL)
        (exc,) = trace.exceptions
        assert exc.type == "Acme.Cases.CaseLockedException"
        assert exc.message == "Case 17 is locked by alice."
        assert [f.function for f in exc.frames] == ["Lock", "<>c.<Open>b__3_0", "InternalRealCall"]

    def test_header_inside_a_log_line(self) -> None:
        """A log prefix before the exception type is not part of the type."""
        trace = only(
            "2026-11-27 10:00:01,123 ERROR [12] Acme.Server.Jobs - Job failed "
            "System.TimeoutException: The operation has timed out.\n"
            "   at Acme.Server.Jobs.Export.Run()\n"
        )
        assert trace.exceptions[0].type == "System.TimeoutException"
        assert trace.exceptions[0].message == "The operation has timed out."

    @pytest.mark.parametrize("text", [EMAIL, FRAMEWORK_INNER, AGGREGATE_CORE, GERMAN, FRENCH])
    def test_collapsed_single_line(self, text: str) -> None:
        """A trace whose line breaks were lost parses like the original."""
        collapsed = " ".join(line.strip() for line in text.splitlines() if line.strip())
        assert "\n" not in collapsed
        original, restored = only(text), only(collapsed)
        assert [e.type for e in restored.exceptions] == [e.type for e in original.exceptions]
        assert [
            [(f.module, f.function, f.line) for f in e.frames] for e in restored.exceptions
        ] == [[(f.module, f.function, f.line) for f in e.frames] for e in original.exceptions]

    def test_crlf_line_endings(self) -> None:
        """Windows line endings parse like ``\\n``."""
        trace = only(FRAMEWORK_INNER.replace("\n", "\r\n"))
        assert trace.frame_count == 4
        assert trace.exceptions[1].frames[0].line == 42

    @pytest.mark.parametrize(
        "text",
        [
            NO_TRACE_BODY,
            "java.lang.IllegalStateException: x\n\tat com.acme.Foo.bar(Foo.java:42)\n"
            "\tat com.acme.Foo.main(Unknown Source)\n\tat java.lang.Thread.run(Native Method)\n",
            'Traceback (most recent call last):\n  File "x.py", line 1, in <module>\n'
            "ValueError: x\n",
            "We met at Main.Street(see map) yesterday.",
        ],
    )
    def test_no_dotnet_trace(self, text: str) -> None:
        """Prose, Java and Python traces are not .NET traces."""
        assert parse(text) is None

    @settings(max_examples=300, deadline=None)
    @given(
        st.text(
            alphabet=st.sampled_from(list(" \t\n\r:.()<>[]`+-#_0123456789atbeiAXSystem")),
            max_size=400,
        )
        | st.text(max_size=300)
    )
    def test_never_raises(self, text: str) -> None:
        """Arbitrary text gives a trace or ``None``, never an error."""
        result = parse(text)
        assert result is None or result.language == "dotnet"


def norm(function: str, module: str = "Acme.Cases.CaseViewModel", raw: str = "") -> NormalizedFrame:
    return normalize_frame(Frame(module=module, function=function, raw=raw))


class TestNormalize:
    @pytest.mark.parametrize(
        ("module", "function", "key", "hint"),
        [
            ("Acme.X", "Load", "Acme.X.Load", ""),
            (
                "Acme.X",
                "<LoadAsync>d__12.MoveNext",
                "Acme.X.LoadAsync",
                "async state machine <LoadAsync>d__12.MoveNext folded to LoadAsync",
            ),
            (
                "Acme.X",
                "<>c__DisplayClass5_0.<Run>b__0",
                "Acme.X.Run",
                "closure lambda <>c__DisplayClass5_0.<Run>b__0 folded to Run",
            ),
            ("Acme.X", "<>c.<Main>b__0_0", "Acme.X.Main", "lambda <>c.<Main>b__0_0 folded to Main"),
            (
                "Acme.X",
                "<Main>g__Local|0_0",
                "Acme.X.Main.Local",
                "local function <Main>g__Local|0_0 folded to Main.Local",
            ),
            (
                "Acme.X",
                "<>c__DisplayClass5_0.<<Run>b__0>d.MoveNext",
                "Acme.X.Run",
                "async state machine <>c__DisplayClass5_0.<<Run>b__0>d.MoveNext folded to Run",
            ),
            ("Acme.X", "<Main>$", "Acme.X.Main", "top-level statements <Main>$ folded to Main"),
            ("Acme.Repo`1", "Get[TKey]", "Acme.Repo.Get", "generic arguments of Get[TKey] dropped"),
            ("Acme.Repo", "Get<T>", "Acme.Repo.Get", "generic arguments of Get<T> dropped"),
            ("Acme.Repo`2", ".ctor", "Acme.Repo..ctor", "generic arity of Acme.Repo`2 dropped"),
        ],
    )
    def test_keys_and_hints(self, module: str, function: str, key: str, hint: str) -> None:
        """Generated names fold to the source method and the hint says what was folded."""
        result = norm(function, module)
        assert result.key == key
        assert hint in result.hint
        assert not result.skip

    def test_line_file_and_counters_do_not_change_the_key(self) -> None:
        """Two builds of the same code (other line, path, state machine counter) share a key."""
        first = only(
            "System.Exception: x\n   at Acme.X.<LoadAsync>d__12.MoveNext() in C:\\a\\X.cs:line 4\n"
        )
        second = only(
            "System.Exception: x\n   at Acme.X.<LoadAsync>d__9.MoveNext() in D:\\b\\X.cs:line 40\n"
        )
        keys = {normalize_frame(t.exceptions[0].frames[0]).key for t in (first, second)}
        assert keys == {"Acme.X.LoadAsync"}

    @pytest.mark.parametrize(
        ("module", "function", "raw", "key"),
        [
            ("", "lambda_method12", "at lambda_method12(Closure , Object )", "lambda_method"),
            ("Castle.Proxies.ICaseServiceProxy", "Save", "", "Castle.Proxies.Save"),
            (
                "System.Object",
                "__icall_wrapper_mono_gc_alloc_obj",
                "at (wrapper managed-to-native) "
                "System.Object.__icall_wrapper_mono_gc_alloc_obj(intptr,intptr)",
                "System.Object.__icall_wrapper_mono_gc_alloc_obj",
            ),
        ],
    )
    def test_generated_plumbing_is_skipped(
        self, module: str, function: str, raw: str, key: str
    ) -> None:
        """Expression-tree lambdas, dynamic proxies and Mono wrappers never count."""
        result = norm(function, module, raw)
        assert result.skip
        assert result.key == key
        assert result.hint

    def test_mono_wrapper_frame_parses_and_is_skipped(self) -> None:
        """``(wrapper ...)`` frames keep the trace going and normalise as skipped."""
        trace = only(
            "System.NullReferenceException: Object reference not set to an instance of an object\n"
            "  at Acme.Mobile.CasePage.OnAppearing () [0x0001a] in /src/CasePage.cs:55\n"
            "  at (wrapper managed-to-native) System.Reflection.RuntimeMethodInfo.InternalInvoke"
            "(System.Reflection.RuntimeMethodInfo,object,object[],System.Exception&)\n"
            "  at Acme.Mobile.App.Main (System.String[] args) [0x00001] in /src/App.cs:9\n"
        )
        frames = trace.exceptions[0].frames
        assert [f.function for f in frames] == ["OnAppearing", "InternalInvoke", "Main"]
        assert [normalize_frame(f).skip for f in frames] == [False, True, False]

    def test_language_registration(self) -> None:
        """The module registers as ``dotnet:v1``."""
        assert LANGUAGE.id == "dotnet:v1"
        assert LANGUAGE.parse is parse
        assert LANGUAGE.normalize_frame is normalize_frame


class TestSpeed:
    def test_no_trace_body_is_rejected_in_microseconds(self) -> None:
        """A 3 KB body without a trace costs one regex search."""
        body = NO_TRACE_BODY[:3000]
        assert len(body) == 3000
        per_call = _best_time(lambda: parse(body))
        assert per_call < 50e-6, per_call

    def test_typical_trace_is_fast(self) -> None:
        """A typical e-mail with a trace parses well under 100 µs."""
        per_call = _best_time(lambda: parse(EMAIL))
        assert per_call < 100e-6, per_call


def _best_time(call: Callable[[], object], rounds: int = 5, number: int = 200) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(number):
            call()
        best = min(best, (time.perf_counter() - start) / number)
    return best
