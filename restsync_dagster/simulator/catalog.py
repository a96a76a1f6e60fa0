"""The resources of the five simulated APIs: paths, sizes, fan-outs and record shapes.

Field names follow the kind of vendor each seed describes (camelCase for the shared inbox and
messaging APIs, snake_case for the Freshdesk-like service desk, Graph-style for the directory).
"""

from __future__ import annotations

import random
import uuid
from typing import Any, Callable

from restsync_dagster.simulator.data import Spec

WORDS = ("alpha", "billing", "refund", "login", "export", "invoice", "upgrade", "delay", "outage", "feature", "trial", "access")
FIRST = ("Ada", "Grace", "Alan", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Frances", "John", "Radia", "Tim")
LAST = ("Lovelace", "Hopper", "Turing", "Torvalds", "Hamilton", "Thompson", "Liskov", "Ritchie", "Allen", "Backus", "Perlman", "Lee")
DEMO_EMAIL = "ops@example.com"
EMAIL_POOL = (DEMO_EMAIL, *(f"user{n}@example.com" for n in range(1, 60)))


def _name(rng: random.Random) -> tuple[str, str]:
    return rng.choice(FIRST), rng.choice(LAST)


def _text(rng: random.Random, words: int = 6) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize()


def person(camel: bool) -> Callable[[random.Random, int], dict[str, Any]]:
    def generate(rng: random.Random, n: int) -> dict[str, Any]:
        first, last = _name(rng)
        keys = ("firstName", "lastName", "isActive", "phone") if camel else ("first_name", "last_name", "active", "phone")
        return {
            keys[0]: first,
            keys[1]: last,
            "email": f"{first.lower()}.{last.lower()}{n}@example.com",
            keys[2]: rng.random() > 0.1,
            keys[3]: None if rng.random() < 0.3 else f"+1-555-{rng.randint(1000, 9999)}",
            "role": rng.choice(["agent", "admin", "viewer"]),
            "address": {"city": rng.choice(["Berlin", "Lima", "Osaka", "Austin"]), "country": rng.choice(["DE", "PE", "JP", "US"])},
        }

    return generate


def item(kind: str, camel: bool = False) -> Callable[[random.Random, int], dict[str, Any]]:
    """A generic named object (tag, role, folder, policy...)."""

    def generate(rng: random.Random, n: int) -> dict[str, Any]:
        return {
            "name": f"{kind} {n} {rng.choice(WORDS)}",
            "description": _text(rng, 8),
            ("isDefault" if camel else "is_default"): n == 1,
            ("position" if camel else "position"): rng.randint(1, 100),
        }

    return generate


def ticket(camel: bool) -> Callable[[random.Random, int], dict[str, Any]]:
    def generate(rng: random.Random, n: int) -> dict[str, Any]:
        return {
            "subject": _text(rng, 5),
            "status": rng.choice(["open", "pending", "resolved", "closed"]),
            "priority": rng.randint(1, 4),
            ("requesterId" if camel else "requester_id"): rng.randint(1, 1500),
            ("tags" if camel else "tags"): rng.sample(WORDS, rng.randint(0, 3)),
            ("customFields" if camel else "custom_fields"): {"product": rng.choice(["web", "mobile", "api"]), "region": rng.choice(["eu", "us"])},
            ("isEscalated" if camel else "is_escalated"): rng.random() < 0.1,
            "description": _text(rng, 20),
        }

    return generate


def message(camel: bool) -> Callable[[random.Random, int], dict[str, Any]]:
    def generate(rng: random.Random, n: int) -> dict[str, Any]:
        return {
            "body": _text(rng, 25),
            ("authorId" if camel else "user_id"): rng.randint(1, 40),
            ("incoming" if camel else "incoming"): rng.random() < 0.5,
            ("attachments" if camel else "attachments"): [{"name": f"file{k}.pdf", "size": rng.randint(1, 9999)} for k in range(rng.randint(0, 2))],
            "type": rng.choice(["reply", "note", "message"]),
        }

    return generate


def account(rng: random.Random, n: int) -> dict[str, Any]:
    return {
        "accountId": f"acc-{n:06d}",
        "ownerId": rng.randint(1, 12),  # repeats across accounts: the seed calls it the key, it is not
        "name": f"{rng.choice(LAST)} {rng.choice(['GmbH', 'Inc', 'Ltd', 'SA'])}",
        "domain": f"{rng.choice(WORDS)}{n}.example.com",
        "customProperties": {"tier": rng.choice(["gold", "silver", "bronze"]), "seats": rng.randint(1, 500)},
    }


def contact(rng: random.Random, n: int) -> dict[str, Any]:
    first, last = _name(rng)
    return {
        "name": f"{first} {last}",
        "email": rng.choice(EMAIL_POOL) if n % 7 else DEMO_EMAIL,
        "attributes": {"plan": rng.choice(["free", "pro"]), "score": rng.randint(0, 100)},
        "isSpammer": False,
    }


def directory_object(kind: str) -> Callable[[random.Random, int], dict[str, Any]]:
    def generate(rng: random.Random, n: int) -> dict[str, Any]:
        first, last = _name(rng)
        if kind == "user":
            return {
                "displayName": f"{first} {last}",
                "givenName": first,
                "surname": last,
                "userPrincipalName": f"{first.lower()}.{last.lower()}{n}@contoso.example",
                "accountEnabled": rng.random() > 0.05,
                "jobTitle": rng.choice(["Engineer", "Manager", "Analyst", None]),
                "businessPhones": [f"+1 555 {rng.randint(1000, 9999)}"] if rng.random() < 0.5 else [],
            }
        return {
            "displayName": f"{rng.choice(WORDS).title()} group {n}",
            "mailEnabled": rng.random() < 0.5,
            "securityEnabled": True,
            "groupTypes": rng.sample(["Unified", "DynamicMembership"], rng.randint(0, 2)),
            "description": _text(rng, 6),
        }

    return generate


def _guid(n: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"restsync-simulator/{n}"))


def _catalog() -> list[Spec]:
    specs: list[Spec] = []
    # 1. shared_inbox (HAL)
    si = dict(api="shared_inbox", created_field="createdAt", updated_field="updatedAt")
    specs += [
        Spec(name="conversations", path="/v2/conversations", count=600, generate=ticket(True), **si),
        Spec(name="conversation_threads", path="/v2/conversations/{id}/threads", parent="conversations", fanout=(0, 6), generate=message(True), **si),
        Spec(name="customers", path="/v2/customers", count=800, generate=person(True), **si),
        Spec(name="inboxes", path="/v2/mailboxes", count=6, generate=item("Mailbox", True), **si),
        Spec(name="inbox_custom_fields", path="/v2/mailboxes/{id}/fields", parent="inboxes", fanout=(0, 5), generate=item("Field", True), **si),
        Spec(name="inbox_folders", path="/v2/mailboxes/{id}/folders", parent="inboxes", fanout=(3, 8), generate=item("Folder", True), **si),
        Spec(name="users", path="/v2/users", count=40, generate=person(True), **si),
        Spec(name="workflows", path="/v2/workflows", count=25, generate=item("Workflow", True), **si),
        Spec(name="tags", path="/v2/tags", count=60, generate=item("Tag", True), **si),
        Spec(name="teams", path="/v2/teams", count=8, generate=item("Team", True), **si),
        Spec(name="team_members", path="/v2/teams/{id}/members", parent="teams", fanout=(2, 10), members_of="users", generate=person(True), **si),
    ]
    # 2. service_desk (Link header; tickets by page number)
    sd = dict(api="service_desk", created_field="created_at", updated_field="updated_at")
    top = [
        ("agents", "/v1/agents", 120, person(False)), ("business_hours", "/v1/business_hours", 4, item("Hours")),
        ("canned_response_folders", "/v1/canned_response_folders", 6, item("Folder")), ("companies", "/v1/companies", 300, item("Company")),
        ("contacts", "/v1/contacts", 1500, person(False)), ("discussion_categories", "/v1/discussions/categories", 4, item("Category")),
        ("email_configs", "/v1/email_configs", 5, item("Email config")), ("email_mailboxes", "/v1/email/mailboxes", 5, item("Mailbox")),
        ("groups", "/v1/groups", 15, item("Group")), ("products", "/v1/products", 6, item("Product")), ("roles", "/v1/roles", 8, item("Role")),
        ("satisfaction_ratings", "/v1/surveys/satisfaction_ratings", 400, item("Rating")),
        ("scenario_automations", "/v1/scenario_automations", 12, item("Scenario")), ("settings", "/v1/settings/helpdesk", 1, item("Settings")),
        ("skills", "/v1/skills", 10, item("Skill")), ("sla_policies", "/v1/sla_policies", 5, item("SLA")),
        ("solution_categories", "/v1/solutions/categories", 5, item("Category")), ("surveys", "/v1/surveys", 3, item("Survey")),
        ("ticket_fields", "/v1/ticket_fields", 30, item("Field")), ("tickets", "/v1/tickets", 500, ticket(False)),
        ("time_entries", "/v1/time_entries", 500, item("Time entry")),
    ]
    specs += [Spec(name=n, path=p, count=c, generate=g, **sd) for n, p, c, g in top]
    children = [
        ("canned_responses", "/v1/canned_response_folders/{id}/responses", "canned_response_folders", (2, 10), item("Response")),
        ("conversations", "/v1/tickets/{id}/conversations", "tickets", (0, 5), message(False)),
        ("discussion_forums", "/v1/discussions/categories/{id}/forums", "discussion_categories", (2, 4), item("Forum")),
        ("discussion_topics", "/v1/discussions/forums/{id}/topics", "discussion_forums", (2, 6), item("Topic")),
        ("discussion_comments", "/v1/discussions/topics/{id}/comments", "discussion_topics", (0, 5), message(False)),
        ("solution_folders", "/v1/solutions/categories/{id}/folders", "solution_categories", (2, 4), item("Folder")),
        ("solution_articles", "/v1/solutions/folders/{id}/articles", "solution_folders", (2, 8), item("Article")),
    ]
    specs += [Spec(name=n, path=p, parent=par, fanout=f, generate=g, **sd) for n, p, par, f, g in children]
    # 3. directory (OData)
    dr = dict(api="directory", created_field="createdDateTime", updated_field="lastModifiedDateTime", id_format=_guid)
    specs += [
        Spec(name="users", path="/v1/resource/users", count=700, generate=directory_object("user"), **dr),
        Spec(name="groups", path="/v1/resource/groups", count=80, generate=directory_object("group"), **dr),
    ]
    # 4. messaging (body cursor)
    ms = dict(api="messaging", created_field="createdAt", updated_field="updatedAt")
    specs += [
        Spec(name="accounts", path="/v1/accounts", count=150, generate=account, **ms),
        Spec(name="conversations", path="/v1/conversations", count=600, generate=ticket(True), **ms),
        Spec(name="users", path="/v1/users", count=25, generate=person(True), **ms),
        Spec(name="contacts", path="/v1/contacts", count=300, generate=contact, **ms),
        Spec(name="messages", path="/v1/conversations/{id}/messages", parent="conversations", fanout=(1, 8), generate=message(True), **ms),
    ]
    # 5. ticket_desk (offset)
    td = dict(api="ticket_desk", created_field="createdTime", updated_field="modifiedTime")
    specs += [
        Spec(name="organizations", path="/organizations", count=40, generate=item("Organization", True), **td),
        Spec(name="agents", path="/agents", count=60, generate=person(True), **td),
        Spec(name="tickets", path="/tickets", count=1200, generate=ticket(True), **td),
    ]
    return specs


CATALOG: list[Spec] = _catalog()
APIS = ("shared_inbox", "service_desk", "directory", "messaging", "ticket_desk")
