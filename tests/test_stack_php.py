"""PHP stack trace parsing and frame normalisation."""
# ruff: noqa: E501  (real traces have long lines)

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.parsers import must_parse
from triagebot.stack import php
from triagebot.stack.model import Frame, Trace

FATAL = """\
Error log excerpt from web-2:

PHP Fatal error:  Uncaught Exception: Case 42 not found in /var/www/html/app/Repo.php:12
Stack trace:
#0 /var/www/html/app/Service.php(5): App\\Repo->find(42)
#1 [internal function]: App\\Service->load(Array)
#2 /var/www/html/index.php(3): call_user_func(Array)
#3 {main}
  thrown in /var/www/html/app/Repo.php on line 12
"""

NEXT_CHAIN = """\
PHP Fatal error:  Uncaught PDOException: SQLSTATE[HY000] [2002] Connection refused in /var/www/app/Db.php:20
Stack trace:
#0 /var/www/app/Db.php(20): PDO->__construct('mysql:host=db', 'app', Object(SensitiveParameterValue))
#1 /var/www/app/Repo.php(8): App\\Db::connect()
#2 {main}

Next RuntimeException: Database unavailable in /var/www/app/Repo.php:11
Stack trace:
#0 /var/www/app/Controller.php(30): App\\Repo->__construct()
#1 /var/www/public/index.php(7): App\\Controller->show('42')
#2 {main}
  thrown in /var/www/app/Repo.php on line 11
"""

LARAVEL = """\
[2026-11-27 10:00:00] production.ERROR: SQLSTATE[42S02]: Base table or view not found: 1146 Table 'app.cases' doesn't exist {"userId":7,"exception":"[object] (Illuminate\\\\Database\\\\QueryException(code: 42S02): SQLSTATE[42S02]: Base table or view not found: 1146 Table 'app.cases' doesn't exist at /var/www/vendor/laravel/framework/src/Illuminate/Database/Connection.php:760)
[stacktrace]
#0 /var/www/vendor/laravel/framework/src/Illuminate/Database/Connection.php(720): Illuminate\\\\Database\\\\Connection->runQueryCallback('select * from `...', Array, Object(Closure))
#1 /var/www/app/Repositories/CaseRepository.php(31): Illuminate\\\\Database\\\\Query\\\\Builder->get()
#2 /var/www/vendor/laravel/framework/src/Illuminate/Routing/Controller.php(54): App\\\\Repositories\\\\CaseRepository->find('42')
#3 /var/www/vendor/laravel/framework/src/Illuminate/Pipeline/Pipeline.php(183): Illuminate\\\\Pipeline\\\\Pipeline->Illuminate\\\\Pipeline\\\\{closure}(Object(Illuminate\\\\Http\\\\Request))
#4 {main}

[previous exception] [object] (PDOException(code: 42S02): SQLSTATE[42S02]: Base table or view not found at /var/www/vendor/laravel/framework/src/Illuminate/Database/Connection.php:413)
[stacktrace]
#0 /var/www/vendor/laravel/framework/src/Illuminate/Database/Connection.php(413): PDO->prepare('select * from `...')
#1 {main}
"}
"""


parse = must_parse(php.parse)


class TestParse:
    def test_uncaught_fatal_in_mail(self) -> None:
        (exc,) = parse(FATAL).exceptions
        assert (exc.type, exc.message) == ("Exception", "Case 42 not found")
        assert len(exc.frames) == 4
        first = exc.frames[0]
        assert (first.module, first.function, first.file, first.line) == (
            "App\\Repo",
            "find",
            "/var/www/html/app/Service.php",
            5,
        )
        assert (exc.frames[1].module, exc.frames[1].file, exc.frames[1].line) == (
            "App\\Service",
            None,
            None,
        )
        assert (exc.frames[2].module, exc.frames[2].function) == ("", "call_user_func")
        assert exc.frames[3].function == "{main}"

    def test_next_chain_is_outermost_first(self) -> None:
        """PHP prints the previous (inner) exception first; ``Next`` ones enclose it."""
        trace = parse(NEXT_CHAIN)
        assert [(e.type, e.message) for e in trace.exceptions] == [
            ("RuntimeException", "Database unavailable"),
            ("PDOException", "SQLSTATE[HY000] [2002] Connection refused"),
        ]
        assert [len(e.frames) for e in trace.exceptions] == [3, 3]
        assert trace.exceptions[1].frames[1].qualified == "App\\Db.connect"

    def test_laravel_previous_exception(self) -> None:
        trace = parse(LARAVEL)
        assert [e.type for e in trace.exceptions] == [
            "Illuminate\\Database\\QueryException",
            "PDOException",
        ]
        assert trace.exceptions[0].message.startswith("SQLSTATE[42S02]: Base table")
        frames = trace.exceptions[0].frames
        assert len(frames) == 5
        assert (frames[0].module, frames[0].function) == (
            "Illuminate\\Database\\Connection",
            "runQueryCallback",
        )
        assert frames[3].function == "Illuminate\\Pipeline\\{closure}"
        assert trace.exceptions[0].short_type == "QueryException"

    def test_single_line_trace(self) -> None:
        one_line = (
            "[27-Nov-2026 10:00:00 UTC] PHP Fatal error:  Uncaught Exception: Case 42 not found "
            "in /var/www/html/app/Repo.php:12 Stack trace: "
            "#0 /var/www/html/app/Service.php(5): App\\Repo->find(42) "
            "#1 /var/www/html/app/Controller.php(9): App\\Service->load(Array) "
            "#2 /var/www/html/index.php(3): App\\Controller->show() "
            "#3 {main} thrown in /var/www/html/app/Repo.php on line 12"
        )
        (exc,) = parse(one_line).exceptions
        assert (exc.type, exc.message) == ("Exception", "Case 42 not found")
        assert [f.function for f in exc.frames] == ["find", "load", "show", "{main}"]

    def test_collapsed_next_chain(self) -> None:
        collapsed = " ".join(line.strip() for line in NEXT_CHAIN.splitlines())
        trace = parse(collapsed)
        assert [e.type for e in trace.exceptions] == ["RuntimeException", "PDOException"]
        assert trace.frame_count == 6

    def test_php5_header(self) -> None:
        text = FATAL.replace(
            "Uncaught Exception: Case 42 not found in",
            "Uncaught exception 'Exception' with message 'Case 42 not found' in",
        )
        assert parse(text).exceptions[0].message == "Case 42 not found"

    def test_top_level_fatal_keeps_its_throw_site(self) -> None:
        """"#0 {main}" alone: the error came from a script's top level; the header's location is
        the one frame, so the report is not taken for a bare exception line."""
        text = (
            "PHP Fatal error:  Uncaught Error: Call to a member function run() on null in /var/www/html/pub/index.php:11\n"
            "Stack trace:\n#0 {main}\n  thrown in /var/www/html/pub/index.php on line 11\n"
        )
        trace = parse(text)
        (site, main) = trace.exceptions[0].frames
        assert (site.function, site.file, site.line) == ("{main}", "/var/www/html/pub/index.php", 11)
        assert main.file is None
        assert trace.frame_count == 2
        assert "index.php" in php.normalize_frame(site).hint
        assert php.normalize_frame(site).skip  # the signature is the one it always was

    def test_no_trace(self) -> None:
        assert php.parse("Ticket #12 is closed.") is None


class TestNormalize:
    def test_key_is_class_and_method(self) -> None:
        a = parse(FATAL).exceptions[0].frames[0]
        b = parse(FATAL.replace("/var/www/html/", "C:\\inetpub\\site\\")).exceptions[0].frames[0]
        norm = php.normalize_frame(a)
        assert norm.key == php.normalize_frame(b).key == "App\\Repo::find"
        assert "line" in norm.hint

    def test_main_skipped_and_closures_folded(self) -> None:
        assert php.normalize_frame(parse(FATAL).exceptions[0].frames[3]).skip
        closure = Frame(module="", function="{closure:/var/www/app/Http/routes.php:12}")
        moved = Frame(module="", function="{closure:/srv/site/app/Http/routes.php:14}")
        assert php.normalize_frame(closure).key == php.normalize_frame(moved).key
        assert php.normalize_frame(closure).key == "{closure:Http/routes}"
        method = Frame(module="", function="{closure:App\\Jobs\\Sync::handle():40}")
        assert php.normalize_frame(method).key == "{closure:App\\Jobs\\Sync::handle()}"
        anon = Frame(module="class@anonymous/var/www/app/x.php:3$0", function="handle")
        assert php.normalize_frame(anon).key == "class@anonymous::handle"


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_parse_never_raises(text: str) -> None:
    result = php.parse(text)
    assert result is None or isinstance(result, Trace)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(FATAL.splitlines() + NEXT_CHAIN.splitlines() + [""])))
def test_parse_never_raises_on_trace_fragments(lines: list[str]) -> None:
    result = php.parse("\n".join(lines))
    assert result is None or isinstance(result, Trace)


class TestRealWorldLayouts:
    def test_collapsed_uncaught_head_wins_over_report_fields(self) -> None:
        """Collapsed, the report's own "Key: value" text starts the line with the head."""
        text = (
            "Application: Shop Version: 1.2 PHP Fatal error:  Uncaught TypeError: "
            "App\\Pricing\\PriceFormatter::format(): Argument #1 must be of type float, string "
            "given in /srv/shop/src/Pricing/PriceFormatter.php:18 Stack trace: "
            "#0 /srv/shop/src/Controller/CartController.php(64): "
            "App\\Pricing\\PriceFormatter->format('12,50') "
            "#1 /srv/shop/public/index.php(20): App\\Controller\\CartController->summary() "
            "#2 {main} thrown in /srv/shop/src/Pricing/PriceFormatter.php on line 18"
        )
        exc = must_parse(php.parse)(text).exceptions[0]
        assert exc.type == "TypeError"
        assert exc.frames[0].function == "format"
