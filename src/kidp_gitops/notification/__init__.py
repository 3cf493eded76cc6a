"""The notification controller (notification.toolkit.fluxcd.io): Alerts send the events
of Flux objects to Providers (Slack, Teams, webhooks…); Receivers turn signed webhooks
into reconcile requests.

    event.py       a Kubernetes Event as Flux's event
    matching.py    which Alerts take an event; the rate limiter
    providers.py   the request each Provider type receives
    secrets.py     Secrets and a Provider's resolved destination
    sender.py      HTTP posts with retries
    dispatcher.py  Events informer → Alerts → Providers
    alert.py       the Alert reconciler (Ready)
    receiver.py    the Receiver reconciler (webhookPath, Ready)
    webhooks.py    per-type authentication of incoming webhooks
    server.py      the webhook HTTP server
    controller.py  wiring
"""

from kidp_gitops.notification.controller import Notification, notification_controllers

__all__ = ["Notification", "notification_controllers"]
