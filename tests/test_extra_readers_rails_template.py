"""Rails 2 template errors (``stack.extra.rails_template``), read as mails carry them: through
``find_trace``. The example is verbatim from ``bench/realworld``."""

from __future__ import annotations

from tests.parsers import NO_TRACE_BODY
from triagebot.stack import ruby
from triagebot.stack.detect import find_trace
from triagebot.stack.extra import rails_template
from triagebot.stack.model import Trace
from triagebot.stack.signature import Signer

SIGNER = Signer()

# bench/realworld/traces/ruby/redmine-monitoring-index-html-safe.txt
TEMPLATE = """Rendering home_monitoring_controlling_project/index

ActionView::TemplateError (undefined method `html_safe' for #<String:0x6229344>) on line #42 of vendor/plugins/redmine_monitoring_controlling/app/views/home_monitoring_controlling_project/_index.html.erb:
41:                 type: 'pie',
42:                 data: <%=@statuses.map{ |situacao| [situacao.name.to_s, situacao.totalissues.to_i]}.inspect.html_safe%>
43:             }]

    vendor/plugins/redmine_monitoring_controlling/app/views/home_monitoring_controlling_project/_index.html.erb:42
    vendor/plugins/redmine_monitoring_controlling/app/views/home_monitoring_controlling_project/index.html.erb:3

Rendering c:/redmine/public/500.html (500 Internal Server Error)
"""  # noqa: E501


def _found(text: str) -> Trace:
    trace = find_trace(text)
    assert trace is not None
    return trace


def test_reads_the_header_and_the_template_frames() -> None:
    trace = _found(TEMPLATE)
    assert trace.language == "ruby"
    assert trace.frame_count == 2
    root = trace.exceptions[0]
    assert root.type == "ActionView::TemplateError"
    assert root.message == "undefined method `html_safe' for #<String:0x6229344>"
    assert [(f.function, f.line) for f in root.frames] == [("", 42), ("", 3)]


def test_framework_frames_after_the_template_keep_their_method() -> None:
    framework = "    vendor/rails/actionpack/lib/action_view/renderable.rb:39:in `send'\n"
    trace = rails_template.read(
        TEMPLATE.replace("index.html.erb:3\n", "index.html.erb:3\n" + framework)
    )
    assert trace is not None
    frame = trace.exceptions[0].frames[2]
    assert ruby.normalize_frame(frame).key == "action_view/renderable:send"


def test_another_occurrence_is_the_same_bug() -> None:
    other = TEMPLATE.replace("0x6229344", "0x51a0c2f").replace(".erb:42", ".erb:44")
    assert SIGNER.sign(_found(other)).value == SIGNER.sign(_found(TEMPLATE)).value


def test_a_lookalike_in_another_template_is_another_bug() -> None:
    lookalike = TEMPLATE.replace("/_index.html.erb:42", "/_chart.html.erb:42")
    assert SIGNER.sign(_found(lookalike)).value != SIGNER.sign(_found(TEMPLATE)).value


def test_other_text_is_left_alone() -> None:
    assert rails_template.read(NO_TRACE_BODY) is None
    assert rails_template.read("It broke (again) on line #4 of the form.\n") is None
