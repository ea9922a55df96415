"""Where the layers meet: the conversation core learns who does each message step.

The core (conversations/) re-enqueues a lost step and gives up one out of attempts, but the work belongs to
hscode: one orchestrator (hscode/pipeline.py, task `hscode.tasks.message_process`) does whatever of a message's
buttons, answer and history is missing, so every step re-enqueues that task; each step keeps its own give-up.
They are registered here, once the app registry is ready (config.apps.WiringConfig), so that no package imports
a higher one.

The case index's key is kept in Redis between writes of cases (hscode/cache.py): every save and delete of a case,
wherever it comes from (imports, reviews, the admin, a shell), marks it changed.
"""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save

from conversations.models import MessageStep
from conversations.recovery import step_handler_register
from hscode.answer_stream import answer_give_up
from hscode.cache import case_index_changed
from hscode.history import history_give_up
from hscode.models import ClassificationCase
from hscode.services import message_buttons_give_up
from hscode.tasks import message_process_task


def layers_wire() -> None:
    step_handler_register(MessageStep.Step.BUTTONS, task=message_process_task, give_up=message_buttons_give_up)
    step_handler_register(MessageStep.Step.ANSWER, task=message_process_task, give_up=answer_give_up)
    step_handler_register(MessageStep.Step.HISTORY, task=message_process_task, give_up=history_give_up)
    post_save.connect(case_index_changed, sender=ClassificationCase, dispatch_uid="case-index-save")
    post_delete.connect(case_index_changed, sender=ClassificationCase, dispatch_uid="case-index-delete")
