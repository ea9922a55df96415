"""Where the layers meet: the conversation core learns who does each message step.

The core (conversations/) re-enqueues a lost step and gives up one out of attempts, but the work belongs to
higher layers: the buttons to hscode, the answer and the history to chat. They are registered here, once the
app registry is ready (config.apps.WiringConfig), so that no package imports a higher one.
"""

from __future__ import annotations

from chat.answer_stream import answer_give_up
from chat.history import history_give_up
from chat.tasks import answer_generate_task, history_record_task
from conversations.models import MessageStep
from conversations.recovery import step_handler_register
from hscode.services import message_buttons_give_up
from hscode.tasks import detail_page_prepare_task


def layers_wire() -> None:
    step_handler_register(MessageStep.Step.BUTTONS, task=detail_page_prepare_task, give_up=message_buttons_give_up)
    step_handler_register(MessageStep.Step.ANSWER, task=answer_generate_task, give_up=answer_give_up)
    step_handler_register(MessageStep.Step.HISTORY, task=history_record_task, give_up=history_give_up)
