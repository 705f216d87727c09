"""Ruby backtrace parsing and frame normalisation."""
# ruff: noqa: E501  (real traces have long lines)

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.parsers import must_parse
from triagebot.stack import ruby
from triagebot.stack.model import Frame, Trace

CLASSIC = """\
Nightly job output:
/srv/app/models/user.rb:12:in `save': undefined method `x' for nil:NilClass (NoMethodError)
\tfrom /srv/app/services/signup.rb:30:in `block (2 levels) in call'
\tfrom /usr/local/bundle/gems/activerecord-7.0.4/lib/active_record/transactions.rb:209:in `transaction'
\tfrom /srv/app/jobs/signup_job.rb:5:in `block (2 levels) in <top (required)>'
\tfrom /srv/app/jobs/signup_job.rb:1:in `<main>'
"""

RUBY34 = """\
app/models/user.rb:12:in 'User#save': name can't be blank (ArgumentError)
\tfrom app/services/signup.rb:30:in 'block in Signup.call'
\tfrom app/jobs/signup_job.rb:5:in '<main>'
app/models/validator.rb:7:in 'Validator#check!': blank (Validator::Invalid)
\tfrom app/models/user.rb:10:in 'User#save'
"""

RAILS_LOG = """\
Started GET "/cases/42" for 10.0.0.7 at 2026-11-27 10:00:00 +0000
Processing by CasesController#show as HTML
Completed 500 Internal Server Error in 12ms

NoMethodError (undefined method `name' for nil:NilClass):

app/controllers/cases_controller.rb:10:in `show'
app/views/cases/show.html.erb:3:in `_app_views_cases_show_html_erb__4156834_70211'
actionpack (7.0.4) lib/action_controller/metal/basic_implicit_render.rb:6:in `send_action'
"""


parse = must_parse(ruby.parse)


class TestParse:
    def test_classic_uncaught_in_mail(self) -> None:
        (exc,) = parse(CLASSIC).exceptions
        assert exc.type == "NoMethodError"
        assert exc.message == "undefined method `x' for nil:NilClass"
        assert len(exc.frames) == 5
        top = exc.frames[0]
        assert (top.module, top.function, top.line) == ("/srv/app/models/user.rb", "save", 12)
        assert exc.frames[1].function == "block (2 levels) in call"
        assert exc.frames[-1].function == "<main>"

    def test_ruby34_quotes_and_cause(self) -> None:
        """Ruby 3.4 ``'Class#method'`` labels; the printed cause is the inner exception."""
        trace = parse(RUBY34)
        assert [(e.type, e.message) for e in trace.exceptions] == [
            ("ArgumentError", "name can't be blank"),
            ("Validator::Invalid", "blank"),
        ]
        assert [len(e.frames) for e in trace.exceptions] == [3, 2]
        assert trace.exceptions[0].frames[0].function == "User#save"

    def test_rails_log_header(self) -> None:
        (exc,) = parse(RAILS_LOG).exceptions
        assert exc.type == "NoMethodError"
        assert exc.message == "undefined method `name' for nil:NilClass"
        assert [f.line for f in exc.frames] == [10, 3, 6]
        assert exc.frames[2].file == (
            "actionpack (7.0.4) lib/action_controller/metal/basic_implicit_render.rb"
        )

    def test_collapsed(self) -> None:
        collapsed = " ".join(line.strip() for line in CLASSIC.splitlines())
        (exc,) = parse(collapsed).exceptions
        assert exc.type == "NoMethodError"
        assert len(exc.frames) == 5

    def test_no_trace(self) -> None:
        assert ruby.parse("Thanks, see you at 10:30 in the lobby") is None


class TestNormalize:
    def test_same_key_across_machines(self) -> None:
        """Absolute and Rails-relative paths of one file and both quote styles fold together."""
        a = parse(CLASSIC).exceptions[0].frames[1]
        b = Frame(
            module="/home/alice/app/services/signup.rb",
            function="block (3 levels) in call",
            file="/home/alice/app/services/signup.rb",
            line=31,
        )
        norm = ruby.normalize_frame(a)
        assert norm.key == ruby.normalize_frame(b).key == "services/signup:block in call"
        assert "block depth" in norm.hint

    def test_gem_version_and_template_id_folded(self) -> None:
        frames = parse(CLASSIC).exceptions[0].frames
        assert ruby.normalize_frame(frames[2]).key == (
            "activerecord/lib/active_record/transactions:transaction"
        )
        template = parse(RAILS_LOG).exceptions[0].frames[1]
        assert (
            ruby.normalize_frame(template).key == "cases/show.html:_app_views_cases_show_html_erb"
        )
        rails_gem = parse(RAILS_LOG).exceptions[0].frames[2]
        assert ruby.normalize_frame(rails_gem).key.startswith("actionpack/lib/action_controller/")


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_parse_never_raises(text: str) -> None:
    result = ruby.parse(text)
    assert result is None or isinstance(result, Trace)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(CLASSIC.splitlines() + RAILS_LOG.splitlines() + [""])))
def test_parse_never_raises_on_trace_fragments(lines: list[str]) -> None:
    result = ruby.parse("\n".join(lines))
    assert result is None or result.frame_count > 0


class TestRealWorldLayouts:
    """Layouts seen in real reports that once lost frames or the exception type."""

    def test_error_highlight_between_top_frame_and_from_lines(self) -> None:
        """Ruby 3.1+ prints the failing code (with blank lines) before the ``from`` lines."""
        trace = parse(
            "app/models/user.rb:12:in 'User#full_name': undefined method 'upcase' for nil "
            "(NoMethodError)\n\n"
            '    "#{first_name.upcase} #{last_name}"\n'
            "                 ^^^^^^^\n"
            "\tfrom app/views/users/index.html.erb:4:in 'Array#each'\n"
            "\tfrom app/views/users/index.html.erb:4:in "
            "'_app_views_users_index_html_erb___1144830177236420110_28320'\n"
        )
        exc = trace.exceptions[0]
        assert exc.type == "NoMethodError"
        assert len(exc.frames) == 3

    def test_negative_template_hash_folds_like_a_positive_one(self) -> None:
        """Rails turns a negative template hash's "-" into "_": ``erb___123`` vs ``erb__123``."""
        keys = {
            ruby.normalize_frame(
                Frame(
                    module="app/views/a/show.html.erb", function=f, file="app/views/a/show.html.erb"
                )
            ).key
            for f in (
                "_app_views_a_show_html_erb___918273_47100",
                "_app_views_a_show_html_erb__5_1",
            )
        }
        assert keys == {"a/show.html:_app_views_a_show_html_erb"}

    def test_tagged_and_prefixed_log_headers(self) -> None:
        tagged = parse(
            "[4c2f8a1e] ActiveRecord::RecordNotFound (Couldn't find Invoice with 'id'=7):\n"
            "[4c2f8a1e] \n"
            "[4c2f8a1e] app/controllers/invoices_controller.rb:64:in `set_invoice'\n"
        )
        assert tagged.exceptions[0].type == "ActiveRecord::RecordNotFound"
        sidekiq = parse(
            "2026-11-27T04:00:13.552Z pid=7 tid=2mkv WARN: ActiveRecord::RecordInvalid: "
            "Validation failed\n"
            "/app/app/services/contact_importer.rb:34:in `import_one'\n"
        )
        assert sidekiq.exceptions[0].type == "ActiveRecord::RecordInvalid"

    def test_collapsed_rails_log_keeps_gems_and_tags_with_their_frames(self) -> None:
        text = (
            "Completed 500 Internal Server Error in 31ms NoMethodError (undefined method `x' for "
            "nil): [req-1] app/models/order.rb:48:in `label' [req-1] app/controllers/"
            "orders_controller.rb:17:in `show' [req-1] actionpack (7.0.8) lib/abstract_controller/"
            "base.rb:215:in `process_action' [req-1] activesupport (7.0.8) lib/active_support/"
            "callbacks.rb:107:in `run_callbacks'"
        )
        exc = parse(text).exceptions[0]
        assert exc.type == "NoMethodError"
        files = [f.file for f in exc.frames]
        assert files[2] == "actionpack (7.0.8) lib/abstract_controller/base.rb"
        assert len(files) == 4
