"""Message templates per incident kind: listed for everyone who sends, edited by
admins and commanders."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from coordinator import permissions
from coordinator.context import tocsin
from coordinator.errors import ValidationError
from coordinator.models import Template
from coordinator.services import audit, message_templates
from coordinator.views.auth import permission_required

bp = Blueprint("templates", __name__, url_prefix="/templates")


@bp.get("/")
@permission_required("templates.view")
def index():  # type: ignore[no-untyped-def]
    rows = tocsin().db.session.scalars(select(Template).order_by(Template.kind, Template.name))
    return render_template(
        "message_templates/index.html",
        templates=list(rows),
        can_edit=permissions.allowed(current_user, "templates.edit"),
    )


@bp.route("/new", methods=["GET", "POST"])
@permission_required("templates.edit")
def new():  # type: ignore[no-untyped-def]
    return _edit(None)


@bp.route("/<int:template_id>", methods=["GET", "POST"])
@permission_required("templates.edit")
def edit(template_id: int):  # type: ignore[no-untyped-def]
    return _edit(template_id)


@bp.post("/<int:template_id>/delete")
@permission_required("templates.edit")
def delete(template_id: int):  # type: ignore[no-untyped-def]
    with tocsin().db.write() as session:
        template = session.get(Template, template_id)
        if template is None:
            abort(404)
        audit.record(
            session, f"user:{current_user.username}", "template.deleted",
            template_id=template.id, kind=template.kind, name=template.name,
        )  # fmt: skip
        session.delete(template)
    flash("Template deleted.")
    return redirect(url_for("templates.index"))


def _edit(template_id: int | None):  # type: ignore[no-untyped-def]
    t = tocsin()
    template = t.db.session.get(Template, template_id) if template_id is not None else None
    if template_id is not None and template is None:
        abort(404)
    errors: dict[str, str] = {}
    form = request.form if request.method == "POST" else _as_form(template)
    if request.method == "POST":
        data = message_templates.TemplateForm(
            kind=form.get("kind", ""), name=form.get("name", ""), body=form.get("body", "")
        )
        try:
            with t.db.write() as session:
                target = session.get(Template, template_id) if template_id is not None else None
                saved = message_templates.save(session, data, target)
                audit.record(
                    session, f"user:{current_user.username}",
                    "template.changed" if template_id else "template.created",
                    template_id=saved.id, kind=saved.kind, name=saved.name,
                )  # fmt: skip
        except ValidationError as exc:
            errors = exc.errors
        else:
            flash(f"Template {saved.name!r} saved.")
            return redirect(url_for("templates.index"))
    return render_template(
        "message_templates/edit.html",
        template=template,
        form=form,
        kinds=message_templates.TEMPLATE_KINDS,
        placeholders=message_templates.PLACEHOLDERS,
        errors=errors,
    ), 400 if errors else 200


def _as_form(template: Template | None) -> dict[str, str]:
    if template is None:
        return {}
    return {"kind": template.kind, "name": template.name, "body": template.body}
