"""JVM trace parser and frame normaliser (``java:v1``)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.parsers import NO_TRACE_BODY, must_parse
from triagebot.stack.java import LANGUAGE, normalize_frame, parse
from triagebot.stack.model import Frame, Trace

SPRING = """\
Exception in thread "main" java.lang.IllegalStateException: Could not process order 42
\tat com.acme.orders.OrderService.lambda$process$0(OrderService.java:57)
\tat com.acme.orders.OrderService$$Lambda$123/0x0000000801234567.apply(Unknown Source)
\tat java.base/java.util.stream.ReferencePipeline$3$1.accept(ReferencePipeline.java:197)
\tat app//com.acme.orders.OrderService.process(OrderService.java:55)
\tat com.acme.orders.OrderService$$EnhancerBySpringCGLIB$$1a2b3c.process(<generated>)
\tat jdk.internal.reflect.GeneratedMethodAccessor123.invoke(Unknown Source)
\tat java.base/jdk.internal.reflect.DelegatingMethodAccessorImpl.invoke(\
DelegatingMethodAccessorImpl.java:43)
\tat jdk.proxy2/jdk.proxy2.$Proxy45.process(Unknown Source)
\tat com.acme.orders.Main$1.run(Main.java:20)
\tat java.base/java.lang.Thread.run(Thread.java:833)
Caused by: org.springframework.dao.DataIntegrityViolationException: could not execute statement
\tat org.springframework.orm.jpa.vendor.HibernateJpaDialect.convertHibernateAccessException(\
HibernateJpaDialect.java:276)
\tat com.acme.orders.OrderRepository$HibernateProxy$AbCd12.save(Unknown Source)
\t... 8 more
Caused by: org.postgresql.util.PSQLException: ERROR: duplicate key value violates unique constraint
  Detail: Key (id)=(42) already exists.
\tat org.postgresql.core.v3.QueryExecutorImpl.receiveErrorResponse(QueryExecutorImpl.java:2675)
\tat org.postgresql.jdbc.PgStatement.executeInternal(PgStatement.java)
\t... 12 more
"""

SUPPRESSED = """\
java.io.UncheckedIOException: Export failed
\tat com.acme.export.Exporter.run(Exporter.java:30)
\tat com.acme.export.Main.main(Main.java:8)
\tSuppressed: java.io.IOException: close of the top-level writer failed
\t\tat com.acme.export.Sink.close(Sink.java:40)
\t\t... 2 more
Caused by: java.sql.SQLException: Connection reset
\tat com.acme.export.Source.read(Source.java:12)
\t... 2 more
\tSuppressed: java.io.IOException: close of the source failed
\t\tat com.acme.export.Source.close(Source.java:50)
\t\t... 3 more
\tCaused by: java.net.SocketException: Broken pipe
\t\tat java.base/sun.nio.ch.NioSocketImpl.implWrite(NioSocketImpl.java:420)
\t\t... 5 more
"""

KOTLIN_ANDROID = """\
FATAL EXCEPTION: main
Process: com.acme.field, PID: 4242
java.lang.RuntimeException: Unable to start activity \
ComponentInfo{com.acme.field/com.acme.field.CaseActivity}: \
kotlin.UninitializedPropertyAccessException: lateinit property adapter has not been initialized
\tat android.app.ActivityThread.performLaunchActivity(ActivityThread.java:3449)
\tat android.os.Handler.dispatchMessage(Handler.java:106)
\tat com.android.internal.os.ZygoteInit.main(ZygoteInit.java:947)
Caused by: kotlin.UninitializedPropertyAccessException: \
lateinit property adapter has not been initialized
\tat com.acme.field.CaseActivity.onCreate(CaseActivity.kt:42)
\tat com.acme.field.CaseActivity$load$1.invokeSuspend(CaseActivity.kt:58)
\tat com.acme.field.CaseActivity.render$lambda$3(CaseActivity.kt:71)
\tat com.acme.field.Repo.fetch$default(SourceFile:12)
\tat android.app.Activity.performCreate(Activity.java:8000)
\t... 11 more
"""

SCALA = """\
java.lang.ArithmeticException: / by zero
\tat com.acme.stats.Report$.ratio(Report.scala:14)
\tat com.acme.stats.Report$.$anonfun$build$1(Report.scala:20)
\tat com.acme.stats.Report$.$anonfun$build$1$adapted(Report.scala:20)
\tat com.acme.stats.Report$$anonfun$render$2.apply(Report.scala:31)
\tat scala.collection.immutable.List.map(List.scala:293)
"""

EMAIL = """\
Hi support,

our nightly import stopped. Log excerpt:

2026-11-27 03:00:01.123 ERROR 4711 --- [scheduling-1] c.a.i.ImportJob : Import failed
java.lang.NullPointerException: Cannot invoke "String.length()" because "name" is null
\tat com.acme.imports.CsvRow.name(CsvRow.java:88) ~[acme-import-2.3.jar:2.3]
\tat com.acme.imports.ImportJob.run(ImportJob.java:41) ~[acme-import-2.3.jar:2.3]
\tat org.springframework.scheduling.support.ScheduledMethodRunnable.run(\
ScheduledMethodRunnable.java:84) ~[spring-context-5.3.20.jar:5.3.20]

Please have a look.
Bob
"""

only = must_parse(parse)


class TestChain:
    def test_caused_by_chain_order_types_and_messages(self) -> None:
        """``Caused by:`` links run outermost to root cause, with multi-line messages."""
        trace = only(SPRING)
        assert trace.language == "java"
        assert [e.type for e in trace.exceptions] == [
            "java.lang.IllegalStateException",
            "org.springframework.dao.DataIntegrityViolationException",
            "org.postgresql.util.PSQLException",
        ]
        top, spring, root = trace.exceptions
        assert top.message == "Could not process order 42"
        assert spring.message == "could not execute statement"
        assert root.message == (
            "ERROR: duplicate key value violates unique constraint\n"
            "  Detail: Key (id)=(42) already exists."
        )
        assert [len(e.frames) for e in trace.exceptions] == [10, 2, 2]
        assert trace.root is root

    def test_frame_split_module_prefixes_and_sources(self) -> None:
        """Module and class-loader prefixes are dropped; file and line are split."""
        frames = only(SPRING).exceptions[0].frames
        assert [(f.module, f.function, f.file, f.line) for f in frames[:5]] == [
            ("com.acme.orders.OrderService", "lambda$process$0", "OrderService.java", 57),
            (
                "com.acme.orders.OrderService$$Lambda$123/0x0000000801234567",
                "apply",
                None,
                None,
            ),
            ("java.util.stream.ReferencePipeline$3$1", "accept", "ReferencePipeline.java", 197),
            ("com.acme.orders.OrderService", "process", "OrderService.java", 55),
            (
                "com.acme.orders.OrderService$$EnhancerBySpringCGLIB$$1a2b3c",
                "process",
                "<generated>",
                None,
            ),
        ]
        assert frames[7].module == "jdk.proxy2.$Proxy45"
        assert frames[9].raw == "at java.base/java.lang.Thread.run(Thread.java:833)"

    @pytest.mark.parametrize(
        ("line", "module", "function", "file", "number"),
        [
            ("\tat java.lang.Object.wait(Native Method)", "java.lang.Object", "wait", None, None),
            ("\tat com.acme.A.b(Unknown Source:2)", "com.acme.A", "b", None, 2),
            ("\tat com.acme.A.<init>(A.java:5)", "com.acme.A", "<init>", "A.java", 5),
            ("\tat com.acme.A.<clinit>(A.kt)", "com.acme.A", "<clinit>", "A.kt", None),
            (
                "\tat com.foo.loader/foo@9.0/com.foo.Main.run(Main.java:101)",
                "com.foo.Main",
                "run",
                "Main.java",
                101,
            ),
            (
                "\tat java.base/java.lang.invoke.LambdaForm$DMH/0x0000000800c0c000"
                ".invokeVirtual(LambdaForm$DMH)",
                "java.lang.invoke.LambdaForm$DMH/0x0000000800c0c000",
                "invokeVirtual",
                "LambdaForm$DMH",
                None,
            ),
        ],
    )
    def test_frame_formats(
        self, line: str, module: str, function: str, file: str | None, number: int | None
    ) -> None:
        """Native, unknown-source, constructor, module@version and hidden-class frames."""
        (frame,) = only(f"java.lang.Exception: x\n{line}\n").exceptions[0].frames
        assert (frame.module, frame.function, frame.file, frame.line) == (
            module,
            function,
            file,
            number,
        )

    def test_suppressed_are_side_exceptions(self) -> None:
        """Suppressed follow their parent; the root cause's own precede it so ``root`` holds."""
        trace = only(SUPPRESSED)
        assert [(e.type, e.message) for e in trace.exceptions] == [
            ("java.io.UncheckedIOException", "Export failed"),
            ("java.io.IOException", "close of the top-level writer failed"),
            ("java.io.IOException", "close of the source failed"),
            ("java.net.SocketException", "Broken pipe"),
            ("java.sql.SQLException", "Connection reset"),
        ]
        top, top_closed, source_closed, pipe, root = trace.exceptions
        assert [f.function for f in top.frames] == ["run", "main"]
        assert [f.function for f in top_closed.frames] == ["close"]
        assert [f.function for f in source_closed.frames] == ["close"]
        assert [f.function for f in pipe.frames] == ["implWrite"]
        assert [f.function for f in root.frames] == ["read"]
        assert trace.root is root

    def test_suppressed_of_single_exception_follows_it(self) -> None:
        """With one causal exception, what was reported stays first."""
        trace = only(
            "java.lang.IllegalStateException: boom\n\tat com.acme.A.run(A.java:1)\n"
            "\tSuppressed: java.io.IOException: close\n\t\tat com.acme.A.close(A.java:9)\n"
        )
        assert [e.type for e in trace.exceptions] == [
            "java.lang.IllegalStateException",
            "java.io.IOException",
        ]

    def test_top_exception_without_frames(self) -> None:
        """A top exception with an empty stack still heads the chain."""
        trace = only(
            "com.acme.jobs.JobFailedException: job 7 failed\n"
            "Caused by: java.util.concurrent.TimeoutException\n"
            "\tat com.acme.jobs.Runner.await(Runner.java:77)\n"
        )
        assert [(e.type, len(e.frames)) for e in trace.exceptions] == [
            ("com.acme.jobs.JobFailedException", 0),
            ("java.util.concurrent.TimeoutException", 1),
        ]
        assert trace.exceptions[1].message == ""

    def test_kotlin_android(self) -> None:
        """Android crash with Kotlin frames, ``SourceFile`` and a very long message."""
        trace = only(KOTLIN_ANDROID)
        top, root = trace.exceptions
        assert top.type == "java.lang.RuntimeException"
        assert top.message.startswith("Unable to start activity ComponentInfo{com.acme.field/")
        assert root.type == "kotlin.UninitializedPropertyAccessException"
        assert [f.module for f in top.frames] == [
            "android.app.ActivityThread",
            "android.os.Handler",
            "com.android.internal.os.ZygoteInit",
        ]
        assert [(f.function, f.file, f.line) for f in root.frames[:4]] == [
            ("onCreate", "CaseActivity.kt", 42),
            ("invokeSuspend", "CaseActivity.kt", 58),
            ("render$lambda$3", "CaseActivity.kt", 71),
            ("fetch$default", "SourceFile", 12),
        ]

    def test_logcat_prefixes_are_stripped(self) -> None:
        """``E AndroidRuntime:`` prefixes on every line do not hide the trace."""
        logcat = "\n".join(
            f"11-27 10:00:01.123  4242  4242 E AndroidRuntime: {line}"
            for line in KOTLIN_ANDROID.splitlines()
        )
        trace = only(logcat)
        assert [e.type for e in trace.exceptions] == [
            e.type for e in only(KOTLIN_ANDROID).exceptions
        ]
        assert trace.frame_count == only(KOTLIN_ANDROID).frame_count == 8

    def test_scala(self) -> None:
        """Scala objects and closures parse as printed."""
        trace = only(SCALA)
        assert trace.exceptions[0].message == "/ by zero"
        assert [f.function for f in trace.exceptions[0].frames] == [
            "ratio",
            "$anonfun$build$1",
            "$anonfun$build$1$adapted",
            "apply",
            "map",
        ]


class TestFinding:
    def test_trace_in_a_log_excerpt_inside_an_email(self) -> None:
        """Log lines, logback jar suffixes and a signature around the trace are ignored."""
        trace = only(EMAIL)
        (exc,) = trace.exceptions
        assert exc.type == "java.lang.NullPointerException"
        assert exc.message == 'Cannot invoke "String.length()" because "name" is null'
        assert [(f.function, f.line) for f in exc.frames] == [
            ("name", 88),
            ("run", 41),
            ("run", 84),
        ]

    def test_header_inside_a_log_line(self) -> None:
        """A log prefix before the exception type is not part of the type."""
        trace = only(
            "10:00:01.123 ERROR [main] c.a.Worker - Job failed: "
            "java.lang.IllegalStateException: Queue full\n"
            "\tat com.acme.Worker.run(Worker.java:10)\n"
        )
        assert trace.exceptions[0].type == "java.lang.IllegalStateException"
        assert trace.exceptions[0].message == "Queue full"

    @pytest.mark.parametrize("text", [SPRING, EMAIL, KOTLIN_ANDROID, SCALA])
    def test_collapsed_single_line(self, text: str) -> None:
        """A trace whose line breaks were lost parses like the original."""
        collapsed = " ".join(line.strip() for line in text.splitlines() if line.strip())
        original, restored = only(text), only(collapsed)
        assert [e.type for e in restored.exceptions] == [e.type for e in original.exceptions]
        assert [
            [(f.module, f.function, f.line) for f in e.frames] for e in restored.exceptions
        ] == [[(f.module, f.function, f.line) for f in e.frames] for e in original.exceptions]

    @pytest.mark.parametrize(
        "text",
        [
            NO_TRACE_BODY,
            "System.Exception: x\n   at Acme.X.Load(Int32 id) in C:\\x.cs:line 4\n",
            "Meet me at noon.(Seriously)",
        ],
    )
    def test_no_java_trace(self, text: str) -> None:
        """Prose and .NET traces are not JVM traces."""
        assert parse(text) is None

    @settings(max_examples=300, deadline=None)
    @given(
        st.text(
            alphabet=st.sampled_from(list(" \t\n:.()$/<>[]~0123456789atjvCausedby")), max_size=400
        )
        | st.text(max_size=300)
    )
    def test_never_raises(self, text: str) -> None:
        """Arbitrary text gives a trace or ``None``, never an error."""
        result = parse(text)
        assert result is None or result.language == "java"


def norm(module: str, function: str) -> tuple[str, str, bool]:
    result = normalize_frame(Frame(module=module, function=function))
    return result.key, result.hint, result.skip


class TestNormalize:
    @pytest.mark.parametrize(
        ("module", "function", "key", "hint"),
        [
            ("com.acme.A", "run", "com.acme.A.run", ""),
            ("com.acme.A", "lambda$process$0", "com.acme.A.process", "lambda lambda$process$0"),
            ("com.acme.A", "lambda$static$2", "com.acme.A.static", "folded to static"),
            ("com.acme.A$1", "run", "com.acme.A$anon.run", "anonymous class com.acme.A$1"),
            ("com.acme.A$2$1", "call", "com.acme.A$anon$anon.call", "anonymous class"),
            ("com.acme.A$Inner", "go", "com.acme.A$Inner.go", ""),
            ("com.acme.Act", "render$lambda$3", "com.acme.Act.render", "lambda render$lambda$3"),
            ("com.acme.Act", "render$lambda-3", "com.acme.Act.render", "lambda render$lambda-3"),
            ("com.acme.Repo", "fetch$default", "com.acme.Repo.fetch", "default-arguments"),
            (
                "com.acme.Act$load$1",
                "invokeSuspend",
                "com.acme.Act$load$anon.invokeSuspend",
                "anon",
            ),
            ("com.acme.R$", "$anonfun$build$1", "com.acme.R$.build", "lambda $anonfun$build$1"),
            ("com.acme.R$", "$anonfun$build$1$adapted", "com.acme.R$.build", "folded to build"),
            ("com.acme.R$$anonfun$render$2", "apply", "com.acme.R.render", "scala closure"),
        ],
    )
    def test_keys_and_hints(self, module: str, function: str, key: str, hint: str) -> None:
        """Lambda ids and anonymous class counters fold; the hint says what was folded."""
        got_key, got_hint, skip = norm(module, function)
        assert (got_key, skip) == (key, False)
        assert hint in got_hint

    @pytest.mark.parametrize(
        ("module", "function", "key"),
        [
            ("com.acme.A$$Lambda$123/0x0000000801234567", "apply", "com.acme.A$$Lambda.apply"),
            ("com.acme.A$$Lambda/0x000001f0010c7a48", "apply", "com.acme.A$$Lambda.apply"),
            ("com.acme.A$$Lambda$77", "accept", "com.acme.A$$Lambda.accept"),
            ("com.acme.Svc$$EnhancerBySpringCGLIB$$1a2b3c", "save", "com.acme.Svc.save"),
            ("com.acme.Svc$$SpringCGLIB$$0", "save", "com.acme.Svc.save"),
            ("com.acme.Svc$$FastClassBySpringCGLIB$$9f8e7d", "invoke", "com.acme.Svc.invoke"),
            ("com.acme.Order$HibernateProxy$AbCd12", "getId", "com.acme.Order.getId"),
            ("com.acme.Svc$MockitoMock$1234", "save", "com.acme.Svc.save"),
            ("com.acme.Svc_$$_jvst1a2_3", "save", "com.acme.Svc.save"),
            ("jdk.proxy2.$Proxy45", "save", "$Proxy.save"),
            ("com.sun.proxy.$Proxy12", "save", "$Proxy.save"),
            (
                "jdk.internal.reflect.GeneratedMethodAccessor123",
                "invoke",
                "jdk.internal.reflect.GeneratedMethodAccessor.invoke",
            ),
            (
                "sun.reflect.GeneratedConstructorAccessor9",
                "newInstance",
                "sun.reflect.GeneratedConstructorAccessor.newInstance",
            ),
            (
                "java.lang.invoke.LambdaForm$DMH/0x0000000800c0c000",
                "invokeVirtual",
                "java.lang.invoke.LambdaForm.invokeVirtual",
            ),
            ("com.acme.A$1", "access$000", "com.acme.A$anon.access$"),
        ],
    )
    def test_generated_plumbing_is_skipped(self, module: str, function: str, key: str) -> None:
        """Lambda bridges, proxies, reflection accessors and synthetic accessors never count."""
        got_key, hint, skip = norm(module, function)
        assert skip
        assert got_key == key
        assert hint

    def test_same_bug_on_two_jdks_gives_the_same_keys(self) -> None:
        """JDK 8 and JDK 17 prints of the same code normalise to the same counted keys."""
        jdk8 = only(
            "java.lang.IllegalStateException: x\n"
            "\tat com.acme.A.lambda$go$0(A.java:10)\n"
            "\tat com.acme.A$$Lambda$5/1234567.apply(Unknown Source)\n"
            "\tat java.lang.Thread.run(Thread.java:748)\n"
        )
        jdk17 = only(
            "java.lang.IllegalStateException: x\n"
            "\tat com.acme.A.lambda$go$1(A.java:12)\n"
            "\tat com.acme.A$$Lambda$77/0x0000000800c01234.apply(Unknown Source)\n"
            "\tat java.base/java.lang.Thread.run(Thread.java:833)\n"
        )

        def counted(trace: Trace) -> list[str]:
            norms = [normalize_frame(f) for f in trace.exceptions[0].frames]
            return [n.key for n in norms if not n.skip]

        assert counted(jdk8) == counted(jdk17) == ["com.acme.A.go", "java.lang.Thread.run"]

    def test_language_registration(self) -> None:
        """The module registers as ``java:v1``."""
        assert LANGUAGE.id == "java:v1"
        assert LANGUAGE.parse is parse
        assert LANGUAGE.normalize_frame is normalize_frame
