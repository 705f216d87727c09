"""Ruby backtraces exported by error trackers (``stack.extra.ruby_trackers``), read as mails
carry them: through ``find_trace``. Examples are verbatim excerpts of ``bench/realworld``."""

from __future__ import annotations

import time

from tests.parsers import NO_TRACE_BODY
from triagebot.stack import ruby
from triagebot.stack.detect import find_trace
from triagebot.stack.extra import ruby_trackers
from triagebot.stack.model import Trace
from triagebot.stack.signature import Signer

SIGNER = Signer()

# bench/realworld/traces/ruby/admin-accounts-show-recordnotfound.txt
AIRBRAKE = """**Airbrake error:** [#0946](https://getexceptional.airbrake.io/projects/116713/groups/1877914633654670946)
**Airbrake project:** OnPremise

**Error type:** `ActiveRecord::RecordNotFound`
**Error message:** `` Couldn't find Account with 'id'=100 ``
**Where:** `accounts#show`

**Backtrace:**
```
[GEM_ROOT]/gems/activerecord-4.2.7.1/lib/active_record/core.rb:155:in find
[PROJECT_ROOT]/engines/admin/app/controllers/admin/accounts_controller.rb:37:in show
[GEM_ROOT]/gems/actionpack-4.2.7.1/lib/action_controller/metal/implicit_render.rb:4:in send_action
[GEM_ROOT]/gems/actionpack-4.2.7.1/lib/abstract_controller/base.rb:198:in process_action
```
"""

# bench/realworld/traces/ruby/get-more-email-worker-projects-nil@issue11.txt
BUGSNAG = """## Exception in Website

**NoMethodError** in **sidekiq#default**
undefined method &#x60;projects&#x27; for nil:NilClass

## Stacktrace

```
app/workers/get_more_email_worker.rb:7 - perform
```
"""

# bench/realworld/traces/ruby/redis-ruby-read-from-socket-timeout.txt
BUGSNAG_LOOKALIKE = """**Redis::TimeoutError** in **sidekiq#default**
Connection timed out

## Stacktrace

```
vendor/bundle/ruby/2.2.0/gems/redis-3.3.0/lib/redis/connection/ruby.rb:75 - rescue in _read_from_socket
```
"""  # noqa: E501

# bench/realworld/traces/ruby/abilitysheet-noticemail-waning-sidekiq.txt
ERRBIT = """# NoMethodError: undefined method `waning_sidekiq&#39; for NoticeMail:Class #
## Backtrace ##
~~~
569:  [GEM_ROOT]/gems/actionmailer-4.2.3/lib/action_mailer/base.rb -> **method_missing**
"""

# bench/realworld/traces/ruby/argo-bulk-report-template-nil.txt
HONEYBADGER = """[argo/prod] ActionView::Template::Error: undefined method `[]' for nil:NilClass

## Backtrace

    line 109 of [PROJECT_ROOT]/app/views/report/bulk.html.erb: _app_views_report_bulk_html_erb__1188865426380635611_1889360
"""  # noqa: E501

# bench/realworld/traces/ruby/oscurrency-admin-warning-html-nil.txt
NOTIFIER = """A NoMethodError occurred in main#show:

  undefined method `html?' for nil:NilClass
  app/controllers/application_controller.rb:214:in`admin_warning'
"""

# bench/realworld/traces/ruby/redmine-workflow-render-super-undefined.txt
RAILS_TEMPLATE = """Completed 500 Internal Server Error in 4468.8ms

ActionView::Template::Error (undefined method `render_super' for #<#<Class:0x00000008178128>:0x000000085f1a88>):
    1: <%= render_super(__FILE__) %>
    2:
    3: <div class="workflowGraphContainer">
    4:   <%= render :partial => 'workflow_enhancements/workflow_graph', :locals => {
  plugins/redmine_workflow_enhancements/app/views/trackers/edit.html.erb:1:in`_plugins_redmine_workflow_enhancements_app_views_trackers_edit_html_erb___3759611796943326781_70747880'
  actionpack (3.2.19) lib/action_view/template.rb:145:in `block in render'

Environment:
  Redmine version                2.5.2.stable.13333
"""  # noqa: E501


def _found(text: str) -> Trace:
    trace = find_trace(text)
    assert trace is not None
    return trace


class TestAirbrake:
    def test_reads_type_message_and_unquoted_frames(self) -> None:
        trace = _found(AIRBRAKE)
        assert trace.language == "ruby"
        assert trace.frame_count == 4
        root = trace.exceptions[0]
        assert (root.type, root.message) == (
            "ActiveRecord::RecordNotFound",
            "Couldn't find Account with 'id'=100",
        )
        assert [f.function for f in root.frames[:2]] == ["find", "show"]

    def test_frames_key_as_the_ruby_parser_keys_them(self) -> None:
        parsed = ruby.parse(
            "/usr/local/bundle/gems/activerecord-4.2.7.1/lib/active_record/core.rb:155:in `find'"
            ": Couldn't find Account (ActiveRecord::RecordNotFound)\n"
            "\tfrom /srv/app/engines/admin/app/controllers/admin/accounts_controller.rb:37:in "
            "`show'\n"
        )
        assert parsed is not None
        keys = [ruby.normalize_frame(f).key for f in _found(AIRBRAKE).exceptions[0].frames[:2]]
        assert keys == [ruby.normalize_frame(f).key for f in parsed.exceptions[0].frames]

    def test_another_occurrence_is_the_same_bug(self) -> None:
        other = AIRBRAKE.replace("4.2.7.1", "4.2.11").replace(":37:", ":41:").replace("100", "7")
        assert SIGNER.sign(_found(other)).value == SIGNER.sign(_found(AIRBRAKE)).value

    def test_another_action_is_another_bug(self) -> None:
        # as in bench/realworld/traces/ruby/zeitkit-worklog-show-recordnotfound.txt
        other = AIRBRAKE.replace("accounts_controller.rb:37:in show", "worklogs.rb:9:in load")
        assert SIGNER.sign(_found(other)).value != SIGNER.sign(_found(AIRBRAKE)).value


class TestBugsnag:
    def test_reads_type_message_from_the_next_line_and_dash_frames(self) -> None:
        trace = _found(BUGSNAG)
        assert trace.language == "ruby"
        assert trace.frame_count == 1
        root = trace.exceptions[0]
        assert root.type == "NoMethodError"
        assert root.message == "undefined method `projects' for nil:NilClass"
        assert root.frames[0].function == "perform"

    def test_another_occurrence_is_the_same_bug(self) -> None:
        other = BUGSNAG.replace(".rb:7 -", ".rb:12 -")
        assert SIGNER.sign(_found(other)).value == SIGNER.sign(_found(BUGSNAG)).value

    def test_a_lookalike_library_only_failure_is_another_bug(self) -> None:
        lookalike = _found(BUGSNAG_LOOKALIKE)
        assert lookalike.exceptions[0].type == "Redis::TimeoutError"
        assert SIGNER.sign(lookalike).value != SIGNER.sign(_found(BUGSNAG)).value


def test_errbit_honeybadger_and_exception_notification_layouts() -> None:
    errbit, badger, notifier = _found(ERRBIT), _found(HONEYBADGER), _found(NOTIFIER)
    assert errbit.exceptions[0].type == "NoMethodError"
    assert errbit.exceptions[0].message == "undefined method `waning_sidekiq' for NoticeMail:Class"
    assert errbit.exceptions[0].frames[0].function == "method_missing"
    assert errbit.exceptions[0].frames[0].line == 569
    assert badger.exceptions[0].type == "ActionView::Template::Error"
    assert badger.exceptions[0].frames[0].line == 109
    assert notifier.exceptions[0].type == "NoMethodError"
    assert notifier.exceptions[0].message == "undefined method `html?' for nil:NilClass"
    assert notifier.exceptions[0].frames[0].function == "admin_warning"
    assert {t.language for t in (errbit, badger, notifier)} == {"ruby"}


def test_prose_and_other_languages_are_not_read() -> None:
    assert ruby_trackers.read(NO_TRACE_BODY) is None
    assert ruby_trackers.read("The fix is in app/models/user.rb: see line 12.\n") is None
    assert ruby_trackers.read("src/app.js:7 - render\nsrc/index.js:3 - main\n") is None


def _joined(text: str) -> str:
    """``text`` as a mail client that lost its line breaks delivers it."""
    return "Error report\n\n" + " ".join(line.strip() for line in text.split("\n") if line.strip())


def test_exports_that_lost_their_line_breaks_read_the_same() -> None:
    for export in (BUGSNAG, ERRBIT, NOTIFIER):
        joined, original = _found(_joined(export)), _found(export)
        assert joined.exceptions[0].type == original.exceptions[0].type
        assert joined.exceptions[0].message == original.exceptions[0].message
        assert [f.function for f in joined.exceptions[0].frames] == [
            f.function for f in original.exceptions[0].frames
        ]
        assert SIGNER.sign(joined).value == SIGNER.sign(original).value


def test_a_header_after_other_fields_on_a_joined_line_is_read() -> None:
    """A report's fields before the notifier's header, all on one line, do not hide it."""
    fields = "Machine: WS-0412 User: svc_build Time: 2026-11-12 22:22 "
    joined, original = _found(_joined(fields + NOTIFIER)), _found(NOTIFIER)
    assert (joined.exceptions[0].type, joined.exceptions[0].message) == (
        "NoMethodError",
        "undefined method `html?' for nil:NilClass",
    )
    assert SIGNER.sign(joined).value == SIGNER.sign(original).value


def test_a_gem_stays_with_its_path_when_breaks_are_put_back() -> None:
    """A Rails backtrace's ``actionpack (3.2.19) lib/...`` frame is not split in two when a
    joined log's breaks are put back, so it keys as the original does (a library frame)."""
    joined, original = _found(_joined(RAILS_TEMPLATE)), _found(RAILS_TEMPLATE)
    assert [f.module for f in joined.exceptions[0].frames] == [
        "actionpack (3.2.19) lib/action_view/template.rb"
    ]
    assert joined.exceptions[0].message == original.exceptions[0].message
    assert SIGNER.sign(joined).value == SIGNER.sign(original).value


def test_breaks_are_put_back_in_linear_time() -> None:
    """Long runs of the marks the breaks look for cost CPU time in proportion to their length."""
    hostile = "Error report\n\n" + (
        "# " * 50_000
        + " a:1" * 50_000
        + " 1:  a" * 30_000
        + " **A** in " * 20_000
        + " A B occurred in" * 20_000
        + "1) a:1:in " * 20_000
        + "x" * 100_000
    )
    started = time.process_time()
    find_trace(hostile)
    assert time.process_time() - started < 2.0
