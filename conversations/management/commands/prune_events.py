from django.core.management.base import BaseCommand

from conversations.services import event_log_prune


class Command(BaseCommand):
    help = "Delete stored conversation events older than the retention (EVENT_LOG_RETENTION_DAYS)."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None, help="override the retention in days")

    def handle(self, *args, days=None, **options):
        deleted = event_log_prune(older_than_days=days)
        self.stdout.write(f"deleted {deleted} events")
