""".NET trace parser and frame normaliser (``dotnet:v1``)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.parsers import NO_TRACE_BODY, must_parse
from triagebot.stack import NormalizedFrame
from triagebot.stack.detect import find_trace
from triagebot.stack.dotnet import LANGUAGE, normalize_frame, parse
from triagebot.stack.model import Frame, Trace
from triagebot.stack.signature import Signer

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

only = must_parse(parse)


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


class TestRealWorldLayouts:
    """Layouts seen in real reports that once lost frames or the exception type."""

    def test_sqlexception_details_before_inner_end(self) -> None:
        """SqlException prints ClientConnectionId/Error Number after its frames; the outer
        exception's frames after the inner-end marker still belong to the trace."""
        trace = must_parse(parse)(
            "Microsoft.EntityFrameworkCore.DbUpdateException: Saving failed.\n"
            " ---> Microsoft.Data.SqlClient.SqlException (0x80131904): Duplicate key.\n"
            "   at Microsoft.Data.SqlClient.SqlCommand.ExecuteReader()\n"
            "ClientConnectionId:5b2c1a3e-8f0d-4b6e-9a1c-2d3e4f5a6b7c\n"
            "Error Number:2601,State:1,Class:14\n"
            "   --- End of inner exception stack trace ---\n"
            "   at Microsoft.EntityFrameworkCore.DbContext.SaveChanges()\n"
            "   at Contoso.Crm.CustomerService.Register(Customer c) in /src/C.cs:line 88\n"
        )
        outer, inner = trace.exceptions
        assert [f.function for f in outer.frames] == ["SaveChanges", "Register"]
        assert [f.function for f in inner.frames] == ["ExecuteReader"]

    def test_iterator_suffix_keeps_the_frame(self) -> None:
        """.NET Core prints iterator frames as ``Method(...)+MoveNext()``."""
        trace = must_parse(parse)(
            "System.TimeoutException: timed out\n"
            "   at Dapper.SqlMapper.QueryImpl[T](IDbConnection cnn, Type t)+MoveNext() in "
            "/_/Dapper/SqlMapper.cs:line 1093\n"
            "   at Margie.Ledger.LedgerRepository.Load(DateTime cutoff) in /src/L.cs:line 12\n"
        )
        frames = trace.exceptions[0].frames
        assert [f.function for f in frames] == ["QueryImpl[T]", "Load"]
        assert frames[0].line == 1093

    def test_stack_overflow_dump(self) -> None:
        """The runtime's fatal stack overflow output: bare parameter types, repeat markers."""
        trace = must_parse(parse)(
            "Stack overflow.\n"
            "Repeat 12053 times:\n"
            "--------------------------------\n"
            "   at Coho.Catalog.CategoryTree.FindParent(Coho.Catalog.Category)\n"
            "--------------------------------\n"
            "   at Coho.Catalog.CategoryTree.Build(System.Collections.Generic.IEnumerable`1"
            "<Coho.Catalog.Category>)\n"
            "   at Coho.Program.Main(System.String[])\n"
        )
        exc = trace.exceptions[0]
        assert exc.type == "System.StackOverflowException"
        assert [f.function for f in exc.frames] == ["FindParent", "Build", "Main"]

    def test_base_exception_type_after_fields_on_a_collapsed_line(self) -> None:
        """``System.Exception`` (the base type, no longer name) after report fields on a line that
        lost its breaks keeps its type: the same bug as the trace printed on its own lines
        (dotnet/coreclr#14564)."""
        printed = (
            "System.Exception: Exception of type 'System.Exception' was thrown.\n"
            "   at AoA.Gaia.StandaloneTest.Program.<AsyncMethod>d__2.MoveNext() in "
            "C:\\Work\\AoA\\test\\AoA.Gaia\\Standalone.Server\\Program.cs:line 41\n"
            "--- End of stack trace from previous location where exception was thrown ---\n"
            "   at System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw()\n"
            "   at System.Runtime.CompilerServices.TaskAwaiter."
            "HandleNonSuccessAndDebuggerNotification(Task task)\n"
            "   at AoA.Gaia.StandaloneTest.Program.<DelayedAsync>d__3.MoveNext() in "
            "C:\\Work\\AoA\\test\\AoA.Gaia\\Standalone.Server\\Program.cs:line 48\n"
        )
        collapsed = "Machine: appsrv17 User: lena Time: 2026-11-12 03:35 " + " ".join(
            line.strip() for line in printed.splitlines()
        )
        original, restored = only(printed), only(collapsed)
        assert restored.exceptions[0].type == original.exceptions[0].type == "System.Exception"
        assert restored.exceptions[0].message == "Exception of type 'System.Exception' was thrown."
        assert Signer().sign(restored).value == Signer().sign(original).value

    def test_java_frame_without_line_is_not_dotnet(self) -> None:
        assert parse("\tat com.acme.Foo.bar(Foo.java)\n\tat com.acme.Foo.baz(Foo.kt)\n") is None


# The editor console: no "at", "(at path:line)" locations, short exception type names.
UNITY_EDITOR = """\
NullReferenceException: Object reference not set to an instance of an object
Lantern.Game.Inventory.InventoryPanel.Refresh () (at Assets/Scripts/Inventory/InventoryPanel.cs:57)
Lantern.Game.Inventory.InventoryPanel+<>c__DisplayClass9_0.<Bind>b__0 \
(Lantern.Game.Items.Item item) (at Assets/Scripts/Inventory/InventoryPanel.cs:31)
UnityEngine.Events.InvokableCall`1[T1].Invoke (T1 args0) \
(at /Users/bokken/build/output/unity/unity/Runtime/Export/UnityEvent/UnityEvent.cs:207)
UnityEngine.EventSystems.ExecuteEvents.Execute[T] (UnityEngine.GameObject target, \
UnityEngine.EventSystems.BaseEventData eventData, \
UnityEngine.EventSystems.ExecuteEvents+EventFunction`1[T1] functor) \
(at ./Library/PackageCache/com.unity.ugui@1.0.0/Runtime/EventSystem/ExecuteEvents.cs:272)
UnityEngine.EventSystems.EventSystem:Update() \
(at ./Library/PackageCache/com.unity.ugui@1.0.0/Runtime/EventSystem/EventSystem.cs:530)
"""

# The same bug from an IL2CPP player build: frames without "at", no source lines.
UNITY_IL2CPP = """\
NullReferenceException: Object reference not set to an instance of an object.
Lantern.Game.Inventory.InventoryPanel.Refresh () [0x00000] in <00000000000000000000000000000000>:0
Lantern.Game.Inventory.InventoryPanel+<>c__DisplayClass4_0.<Bind>b__0 \
(Lantern.Game.Items.Item item) [0x00000] in <00000000000000000000000000000000>:0
UnityEngine.Events.InvokableCall`1[T1].Invoke (T1 args0) [0x00000] in \
<00000000000000000000000000000000>:0
"""

# The same bug from a Mono player build: Mono's "at" frames (with their trailing space) under
# Unity's short type name, then the player log's "(Filename: ...)" line.
_MVID = "<3c2f7e4b1d9a4e8f8a77c1e2d3f4a5b6>"
UNITY_MONO_PLAYER = "\n".join(
    [
        "NullReferenceException: Object reference not set to an instance of an object",
        f"  at Lantern.Game.Inventory.InventoryPanel.Refresh () [0x0001b] in {_MVID}:0 ",
        "  at Lantern.Game.Inventory.InventoryPanel+<>c__DisplayClass9_0.<Bind>b__0 "
        f"(Lantern.Game.Items.Item item) [0x00000] in {_MVID}:0 ",
        f"  at UnityEngine.Events.InvokableCall`1[T1].Invoke (T1 args0) [0x00010] in {_MVID}:0 ",
        " ",
        f"(Filename: {_MVID} Line: 0)",
        "",
    ]
)

# StackTraceUtility's chain: the root cause first, "Rethrow as" for each enclosing exception
# (outermost last), then the stack of the method that logged it (Debug.LogException).
UNITY_RETHROW = """\
IOException: Sharing violation on path /storage/emulated/0/saves/slot3.sav
System.IO.FileStream..ctor (System.String path, System.IO.FileMode mode) \
(at <88e4733ac7bc4ae1b496735e6b83bbd3>:0)
Lantern.Game.Save.SlotFile.Open (System.String path) (at Assets/Scripts/Save/SlotFile.cs:22)
Rethrow as SaveCorruptException: Save slot 3 could not be read.
Retry after the cloud sync has finished.
Lantern.Game.Save.SaveService+<LoadAsync>d__14.MoveNext () \
(at Assets/Scripts/Save/SaveService.cs:88)
Rethrow as AggregateException: One or more errors occurred.
System.Threading.Tasks.Task.ThrowIfExceptional (System.Boolean includeTaskCanceledExceptions) \
(at <88e4733ac7bc4ae1b496735e6b83bbd3>:0)
Lantern.Game.Save.SaveMenu.OnLoadClicked () (at Assets/Scripts/UI/SaveMenu.cs:41)
UnityEngine.Debug:LogException(Exception)
Lantern.Game.Save.SaveMenu:<OnLoadClicked>b__12_0() (at Assets/Scripts/UI/SaveMenu.cs:45)
"""

# A Debug.LogError message: only the "Type:Method (params)" form, nested types after "/".
UNITY_DEBUG_LOG = """\
Quest 'harbor-02' has no reward table
UnityEngine.Debug:LogError (object)
Lantern.Game.Quests.QuestBook/<Complete>d__7:MoveNext () (at Assets/Scripts/Quests/QuestBook.cs:118)
UnityEngine.SetupCoroutine:InvokeMoveNext (System.Collections.IEnumerator,intptr)
"""

# Reflection in an older editor: a wrapper frame and a frame without location inside the trace.
UNITY_REFLECTION = """\
ArgumentException: Level 'crypt' is not in the build settings
Lantern.Game.Levels.LevelLoader.Load (System.String name) \
(at Assets/Scripts/Levels/LevelLoader.cs:19)
(wrapper managed-to-native) System.Reflection.MonoMethod:InternalInvoke \
(System.Reflection.MonoMethod,object,object[],System.Exception&)
System.Reflection.MonoMethod.Invoke (System.Object obj, System.Reflection.BindingFlags invokeAttr, \
System.Reflection.Binder binder, System.Object[] parameters, \
System.Globalization.CultureInfo culture)
Rethrow as TargetInvocationException: Exception has been thrown by the target of an invocation.
System.Reflection.MonoMethod.Invoke (System.Object obj, System.Reflection.BindingFlags invokeAttr, \
System.Reflection.Binder binder, System.Object[] parameters, \
System.Globalization.CultureInfo culture) \
(at /Users/builduser/buildslave/mono/build/mcs/class/corlib/System.Reflection/MonoMethod.cs:232)
Lantern.Game.Console.CommandRunner.Run (System.String line) \
(at Assets/Scripts/Console/CommandRunner.cs:64)
"""


def keys(trace: Trace) -> list[list[str]]:
    return [[normalize_frame(f).key for f in e.frames] for e in trace.exceptions]


class TestUnity:
    """Unity's editor console, player logs (Mono and IL2CPP) and ``Debug.Log`` stack traces."""

    def test_editor_console_frames(self) -> None:
        """``Type.Method (params) (at path:line)`` frames under a short type name."""
        trace = only(UNITY_EDITOR)
        assert trace.language == "dotnet"
        (exc,) = trace.exceptions
        assert (exc.type, exc.message) == (
            "NullReferenceException",
            "Object reference not set to an instance of an object",
        )
        assert [(f.module, f.function) for f in exc.frames] == [
            ("Lantern.Game.Inventory.InventoryPanel", "Refresh"),
            ("Lantern.Game.Inventory.InventoryPanel", "<>c__DisplayClass9_0.<Bind>b__0"),
            ("UnityEngine.Events.InvokableCall`1[T1]", "Invoke"),
            ("UnityEngine.EventSystems.ExecuteEvents", "Execute[T]"),
            ("UnityEngine.EventSystems.EventSystem", "Update"),
        ]
        first, *_, last = exc.frames
        assert (first.file, first.line) == ("Assets/Scripts/Inventory/InventoryPanel.cs", 57)
        assert first.raw.startswith("Lantern.Game.Inventory.InventoryPanel.Refresh () (at ")
        assert (
            last.file
            == "./Library/PackageCache/com.unity.ugui@1.0.0/Runtime/EventSystem/EventSystem.cs"
        )
        assert last.line == 530

    def test_il2cpp_frames_without_at(self) -> None:
        """``[0x00000] in <mvid>:0`` locations: the build id is the file, line 0."""
        (exc,) = only(UNITY_IL2CPP).exceptions
        assert exc.type == "NullReferenceException"
        assert exc.message == "Object reference not set to an instance of an object."
        assert [f.function for f in exc.frames] == [
            "Refresh",
            "<>c__DisplayClass4_0.<Bind>b__0",
            "Invoke",
        ]
        assert {(f.file, f.line) for f in exc.frames} == {("<" + "0" * 32 + ">", 0)}

    def test_mono_player_log_keeps_the_short_type(self) -> None:
        """Mono's ``at`` frames under Unity's short type name; the ``(Filename:`` line ends it."""
        (exc,) = only(UNITY_MONO_PLAYER).exceptions
        assert exc.type == "NullReferenceException"
        assert len(exc.frames) == 3

    def test_rethrow_chain_is_reversed_to_outermost_first(self) -> None:
        """``Rethrow as`` lines follow their inner exception: the last one is the outermost."""
        trace = only(UNITY_RETHROW)
        assert [e.type for e in trace.exceptions] == [
            "AggregateException",
            "SaveCorruptException",
            "IOException",
        ]
        outer, middle, root = trace.exceptions
        assert trace.root is root
        assert root.message == "Sharing violation on path /storage/emulated/0/saves/slot3.sav"
        assert middle.message == (
            "Save slot 3 could not be read.\nRetry after the cloud sync has finished."
        )
        assert [(f.module, f.function) for f in root.frames] == [
            ("System.IO.FileStream", ".ctor"),
            ("Lantern.Game.Save.SlotFile", "Open"),
        ]
        assert [(f.module, f.function) for f in middle.frames] == [
            ("Lantern.Game.Save.SaveService", "<LoadAsync>d__14.MoveNext"),
        ]
        # the logging method's stack (after Debug.LogException) belongs to the outermost
        assert [(f.module, f.function) for f in outer.frames] == [
            ("System.Threading.Tasks.Task", "ThrowIfExceptional"),
            ("Lantern.Game.Save.SaveMenu", "OnLoadClicked"),
            ("UnityEngine.Debug", "LogException"),
            ("Lantern.Game.Save.SaveMenu", "<OnLoadClicked>b__12_0"),
        ]
        assert outer.frames[-1].line == 45

    def test_rethrow_after_mono_at_frames(self) -> None:
        """A player log's ``at`` frames take ``Rethrow as`` and ``Type:Method`` lines too."""
        trace = only(
            "InvalidCastException: Specified cast is not valid.\n"
            f"  at Lantern.Game.Net.Packet.Read () [0x00012] in {_MVID}:0\n"
            "Rethrow as ProtocolException: Bad packet 0x17\n"
            f"  at Lantern.Game.Net.Client.Receive () [0x00040] in {_MVID}:0\n"
            "UnityEngine.Debug:LogException(Exception)\n"
            "Lantern.Game.Net.Client:Update()\n"
        )
        assert [(e.type, [f.function for f in e.frames]) for e in trace.exceptions] == [
            ("ProtocolException", ["Receive", "LogException", "Update"]),
            ("InvalidCastException", ["Read"]),
        ]

    def test_debug_log_colon_form(self) -> None:
        """``Namespace.Type/Nested:Method (params)``: split at the colon, ``/`` read as ``+``."""
        trace = only(UNITY_DEBUG_LOG)
        (exc,) = trace.exceptions
        assert exc.type == ""
        assert [(f.module, f.function, f.line) for f in exc.frames] == [
            ("UnityEngine.Debug", "LogError", None),
            ("Lantern.Game.Quests.QuestBook", "<Complete>d__7.MoveNext", 118),
            ("UnityEngine.SetupCoroutine", "InvokeMoveNext", None),
        ]

    def test_wrapper_and_bare_frames_continue_the_trace(self) -> None:
        """A ``(wrapper ...)`` frame (skipped) and a frame without location stay in the trace."""
        trace = only(UNITY_REFLECTION)
        outer, root = trace.exceptions
        assert (outer.type, root.type) == ("TargetInvocationException", "ArgumentException")
        assert [f.function for f in root.frames] == ["Load", "InternalInvoke", "Invoke"]
        assert [normalize_frame(f).skip for f in root.frames] == [False, True, False]
        assert [f.function for f in outer.frames] == ["Invoke", "Run"]

    @pytest.mark.parametrize(
        ("line", "key"),
        [
            ("Lantern.Game.Net.Client:<Connect>b__12_0() (at Assets/Net/Client.cs:88)", "Connect"),
            ("Lantern.Game.Net.Client.<Connect>b__12_0 () (at Assets/Net/Client.cs:88)", "Connect"),
            (
                "Lantern.Game.Net.Client/<Connect>d__5:MoveNext () (at Assets/Net/Client.cs:9)",
                "Connect",
            ),
            (
                "Lantern.Game.Net.Client+<Connect>d__5.MoveNext () (at Assets/Net/Client.cs:9)",
                "Connect",
            ),
            (
                "Lantern.Game.Net.Client+<Poll>c__Iterator0.MoveNext () (at Assets/Net/C.cs:9)",
                "Poll",
            ),
            (
                "Lantern.Game.Net.Client+<>c__DisplayClass3_0.<Send>b__1 () [0x00000] in <0123>:0",
                "Send",
            ),
            ("Lantern.Game.Net.Client:Send<Lantern.Game.Net.Ping> (Lantern.Game.Net.Ping)", "Send"),
            ("Lantern.Game.Net.Client.Send[T] (T message) (at Assets/Net/Client.cs:40)", "Send"),
            ("Lantern.Game.Net.Client:.ctor () (at Assets/Net/Client.cs:12)", ".ctor"),
        ],
    )
    def test_generated_names_fold_to_the_source_method(self, line: str, key: str) -> None:
        """Lambdas, async and iterator state machines and generic arguments fold in every form."""
        (frame,) = only(f"Exception: x\n{line}\n").exceptions[0].frames
        assert normalize_frame(frame).key == f"Lantern.Game.Net.Client.{key}"

    def test_same_bug_in_three_builds_has_the_same_keys_and_signature(self) -> None:
        """Editor, IL2CPP and Mono player: other lines, paths, counters and build ids."""
        traces = [only(t) for t in (UNITY_EDITOR, UNITY_IL2CPP, UNITY_MONO_PLAYER)]
        app = [
            "Lantern.Game.Inventory.InventoryPanel.Refresh",
            "Lantern.Game.Inventory.InventoryPanel.Bind",
        ]
        assert all(keys(t)[0][:2] == app for t in traces)
        signer = Signer()
        signatures = [signer.sign(t) for t in traces]
        assert {s.value for s in signatures} == {signatures[0].value}
        assert signatures[0].in_app_frames == tuple(app)
        moved = only(UNITY_EDITOR.replace(":57)", ":75)").replace("Assets/", "Assets/Game/"))
        assert signer.sign(moved).value == signatures[0].value
        other_bug = only(UNITY_EDITOR.replace("Refresh ()", "Redraw ()"))
        assert signer.sign(other_bug).value != signatures[0].value

    def test_engine_frames_are_library_but_unity_namespaced_games_are_not(self) -> None:
        """``UnityEngine.*`` and Unity's packages are library; ``Unity.FPS.*`` game code is not."""
        classify = Signer().classifier.classify

        def in_app(qualified: str, file: str | None = None) -> bool:
            module, _, function = qualified.rpartition(".")
            return classify("dotnet", Frame(module=module, function=function, file=file))[0]

        assert not in_app("UnityEngine.Events.InvokableCall.Invoke")
        assert not in_app("UnityEditor.EditorApplication.Internal_CallUpdateFunctions")
        assert not in_app("Unity.Entities.SystemBase.Update")
        assert not in_app("Unity.UnityContainer.Resolve")  # the dependency injection container
        assert not in_app(
            "Some.Vendor.Widget.Draw", "./Library/PackageCache/com.unity.ugui@1.0.0/X.cs"
        )
        assert in_app("Unity.FPS.Gameplay.PlayerCharacterController.HandleCharacterMovement")
        assert in_app("PlayerController.Update", "Assets/Scripts/PlayerController.cs")

    def test_collapsed_unity_trace(self) -> None:
        """A Unity trace that lost its line breaks, after a log prefix, parses like the original."""
        for text in (UNITY_EDITOR, UNITY_RETHROW, UNITY_REFLECTION):
            collapsed = "Time: 16:05 " + " ".join(
                line.strip() for line in text.splitlines() if line.strip()
            )
            original, restored = only(text), only(collapsed)
            assert [e.type for e in restored.exceptions] == [e.type for e in original.exceptions]
            assert keys(restored) == keys(original)

    def test_crlf_line_endings(self) -> None:
        """Windows line endings parse like ``\\n``."""
        assert keys(only(UNITY_RETHROW.replace("\n", "\r\n"))) == keys(only(UNITY_RETHROW))

    def test_found_by_detection(self) -> None:
        """The detector picks the .NET parser for Unity traces."""
        for text in (UNITY_EDITOR, UNITY_IL2CPP, UNITY_DEBUG_LOG):
            trace = find_trace(text)
            assert trace is not None
            assert (trace.language, trace.frame_count) == ("dotnet", only(text).frame_count)

    @pytest.mark.parametrize(
        "text",
        [
            "java.lang.IllegalStateException: x\n\tat com.acme.Foo.bar(Foo.java:42)\n"
            "\tat com.acme.Foo.main(Foo.java:7)\n",
            "TypeError: Cannot read properties of undefined (reading 'id')\n"
            "    at Object.<anonymous> (/app/src/index.js:10:5)\n"
            "    at Module._compile (node:internal/modules/cjs/loader:1105:14)\n",
            "panic: runtime error: index out of range [3] with length 3\n\ngoroutine 1 [running]:\n"
            "main.main()\n\t/app/main.go:12 +0x1d\n",
            "app/models/user.rb:10:in `full_name': undefined method (NoMethodError)\n",
            "#0 /var/www/src/Foo.php(12): App\\Foo->bar()\n#1 {main}\n",
            "Note:Remember (this) and the meeting at 10:30 (room 4)\nBob (Support)\n",
            "Sent from Outlook.com (mobile)\nSee docs.acme.test (internal)\n",
        ],
    )
    def test_other_traces_and_prose_are_not_unity(self, text: str) -> None:
        """Java, JS, Go, Ruby, PHP traces and prose with parentheses are no Unity trace."""
        assert parse(text) is None

    def test_existing_layout_does_not_take_bare_lines_after_its_frames(self) -> None:
        """Outside a Unity trace a ``Name.Part (text)`` line after the frames is not a frame."""
        trace = only("System.Exception: x\n   at Acme.X.Run()\nAcme.Client.exe (4.2.1)\n")
        assert trace.frame_count == 1

    @settings(max_examples=300, deadline=None)
    @given(
        st.text(
            alphabet=st.sampled_from(list(" \t\n:./()<>[]+-_0123456789axRethrowsinUnityEngine")),
            max_size=400,
        )
    )
    def test_never_raises(self, text: str) -> None:
        """Arbitrary text near Unity's syntax gives a trace or ``None``, never an error."""
        result = parse(text)
        assert result is None or result.language == "dotnet"
