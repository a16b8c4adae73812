//! Stage 2: decide what to mint, before anything is minted.
//!
//! Every invite of a request is enumerated ([`Invitation`]), every token of its templates is
//! bound to what it means there ([`bind`]), and the link tokens are grouped by [`MintKey`]: one
//! mint per link product per interview, one per link product per event, however many invites
//! show it. The result, a [`Plan`], is a plain value: `invitoken plan` prints it (a dry run), and
//! the minting stage executes it.

use std::collections::HashMap;
use std::ops::Range;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::parse::{Context, Finding, FindingKind, Piece, Product, Scope, Template, Token};
use crate::request::{Event, Format, Request, zone_of};

/// What identifies one minted session. Two occurrences with the same key get the same URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct MintKey {
    /// One link for the interview, or one per event.
    pub scope: Scope,
    /// The interview's id.
    pub interview_id: String,
    /// The event's id, for event links.
    pub event_id: Option<String>,
    /// Live interview, or one launched with a template.
    pub product: Product,
    /// The template it launches, for template links.
    pub template_id: Option<String>,
}

/// One planned mint: its key, how many token occurrences it serves, and what the minter needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedMint {
    /// The session's key.
    #[serde(flatten)]
    pub key: MintKey,
    /// How many token occurrences, across every invite of the request, show this link.
    pub occurrences: usize,
    /// The end of the last event this link serves: it must not expire before then.
    pub serves_until: DateTime<Utc>,
    /// For event links: the CodeSignal user id of the event's first interviewer that has one.
    pub interviewer_id: Option<String>,
    /// The candidate's name, for the session.
    #[serde(skip)]
    pub candidate_name: String,
    /// The candidate's email, for the session.
    #[serde(skip)]
    pub candidate_email: String,
}

/// The mints a request needs, in a stable order: interview links first, then each event's in
/// event order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// One entry per session to mint.
    pub mints: Vec<PlannedMint>,
}

/// Which template text a finding is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    /// `templates.candidate.subject`
    CandidateSubject,
    /// `templates.candidate.body`
    CandidateBody,
    /// `templates.interviewer.subject`
    InterviewerSubject,
    /// `templates.interviewer.body`
    InterviewerBody,
}

impl Field {
    /// The field as a JSON pointer into the request, e.g. `/templates/candidate/body`.
    pub fn pointer(self) -> &'static str {
        match self {
            Field::CandidateSubject => "/templates/candidate/subject",
            Field::CandidateBody => "/templates/candidate/body",
            Field::InterviewerSubject => "/templates/interviewer/subject",
            Field::InterviewerBody => "/templates/interviewer/body",
        }
    }
}

/// A finding in one template field of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// Where.
    pub field: Field,
    /// What.
    pub finding: Finding,
}

/// A lexed invite template: subject and body, with the context of every token occurrence.
/// Only [`TemplateSet::parse`] makes one, so the contexts are always those of the text.
#[derive(Debug, Clone)]
pub struct InviteTemplates<'r> {
    /// Subject line (plain text).
    pub subject: Template<'r>,
    /// Body.
    pub body: Template<'r>,
    /// How the body is written.
    pub format: Format,
    /// Where each token of the subject stands, in token order.
    subject_contexts: Vec<Context>,
    /// Where each token of the body stands, in token order.
    body_contexts: Vec<Context>,
}

impl<'r> InviteTemplates<'r> {
    /// The subject (`subject`) or the body, with the context of each of its tokens.
    pub fn with_contexts(&self, subject: bool) -> (&Template<'r>, &[Context]) {
        if subject {
            (&self.subject, &self.subject_contexts)
        } else {
            (&self.body, &self.body_contexts)
        }
    }
}

/// The request's templates, lexed.
#[derive(Debug, Clone)]
pub struct TemplateSet<'r> {
    /// The candidate's, if the request has one.
    pub candidate: Option<InviteTemplates<'r>>,
    /// The interviewers', if the request has one.
    pub interviewer: Option<InviteTemplates<'r>>,
}

impl<'r> TemplateSet<'r> {
    /// Lexes every template of the request and decides where each token stands (a subject is one
    /// line; an HTML body is read by an HTML tokenizer); fails with every finding of all of them.
    pub fn parse(request: &'r Request) -> Result<TemplateSet<'r>, Vec<Located>> {
        let mut findings = Vec::new();
        let mut lex = |field: Field, source: &'r str, subject: bool, format: Format| {
            let found = match Template::parse(source) {
                Ok(t) => match Context::of_template(&t, subject, format == Format::Html) {
                    Ok(contexts) => {
                        // `InviteWalk::parts` pairs them with the tokens, in order.
                        debug_assert_eq!(contexts.len(), t.tokens().count());
                        return Some((t, contexts));
                    }
                    Err(found) => found,
                },
                Err(found) => found,
            };
            findings.extend(found.into_iter().map(|finding| Located { field, finding }));
            None
        };
        let mut pair = |t: &'r Option<crate::request::InviteTemplate>, s: Field, b: Field| {
            t.as_ref().map(|t| {
                (
                    lex(s, &t.subject, true, t.format),
                    lex(b, &t.body, false, t.format),
                    t.format,
                )
            })
        };
        let candidate = pair(
            &request.templates().candidate,
            Field::CandidateSubject,
            Field::CandidateBody,
        );
        let interviewer = pair(
            &request.templates().interviewer,
            Field::InterviewerSubject,
            Field::InterviewerBody,
        );
        if !findings.is_empty() {
            return Err(findings);
        }
        type Lexed<'r> = Option<(Template<'r>, Vec<Context>)>;
        let done = |p: Option<(Lexed<'r>, Lexed<'r>, Format)>| {
            p.map(|(s, b, format)| {
                let (subject, subject_contexts) = s.expect("no findings, so it lexed");
                let (body, body_contexts) = b.expect("no findings, so it lexed");
                InviteTemplates {
                    subject,
                    body,
                    format,
                    subject_contexts,
                    body_contexts,
                }
            })
        };
        Ok(TemplateSet {
            candidate: done(candidate),
            interviewer: done(interviewer),
        })
    }

    /// The templates of the invite of `role`.
    pub fn of(&self, role: Role) -> Option<&InviteTemplates<'r>> {
        match role {
            Role::Candidate => self.candidate.as_ref(),
            Role::Interviewer => self.interviewer.as_ref(),
        }
    }
}

/// Who an invite is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The candidate: one invite for the whole interview.
    Candidate,
    /// An interviewer: one invite per event they sit on.
    Interviewer,
}

impl Role {
    /// The subject's and the body's field of this role's templates.
    pub(crate) fn fields(self) -> [Field; 2] {
        match self {
            Role::Candidate => [Field::CandidateSubject, Field::CandidateBody],
            Role::Interviewer => [Field::InterviewerSubject, Field::InterviewerBody],
        }
    }
}

/// One invite to render: who gets it and which events it covers.
#[derive(Debug, Clone)]
pub struct Invitation<'r> {
    /// Candidate or interviewer.
    pub role: Role,
    /// Recipient's name.
    pub name: &'r str,
    /// Recipient's email.
    pub email: &'r str,
    /// The recipient's time zone.
    pub zone: Tz,
    /// The event of an interviewer's invite; `None` for the candidate's.
    pub event: Option<&'r Event>,
    /// The events the invite covers, in start order: all for the candidate, one for an
    /// interviewer.
    pub covers: Vec<&'r Event>,
}

/// Every invite of a request that has a template: the candidate's first, then each
/// interviewer's, event by event.
pub fn invitations<'r>(request: &'r Request, templates: &TemplateSet<'_>) -> Vec<Invitation<'r>> {
    let iv = request.interview();
    let mut by_start: Vec<&Event> = iv.events.iter().collect();
    by_start.sort_by_key(|e| e.start);
    let mut out = Vec::new();
    if templates.candidate.is_some() {
        out.push(Invitation {
            role: Role::Candidate,
            name: &iv.candidate.name,
            email: &iv.candidate.email,
            zone: zone_of(&iv.candidate.timezone),
            event: None,
            covers: by_start,
        });
    }
    if templates.interviewer.is_some() {
        for event in &iv.events {
            for person in &event.interviewers {
                out.push(Invitation {
                    role: Role::Interviewer,
                    name: &person.name,
                    email: &person.email,
                    zone: zone_of(&person.timezone),
                    event: Some(event),
                    covers: vec![event],
                });
            }
        }
    }
    out
}

/// What a token means in one invite.
#[derive(Debug, Clone)]
pub enum Binding<'r> {
    /// One link, or (`list`) one per covered event, each with the event it belongs to.
    Links {
        /// The sessions, with their event for event links.
        keys: Vec<(Option<&'r Event>, MintKey)>,
        /// Whether to show a list (event links in an invite covering several events).
        list: bool,
    },
    /// `$Candidate.Name`
    CandidateName,
    /// `$Candidate.FirstName`
    CandidateFirstName,
    /// `$Event.Topic`
    Topic(&'r Event),
    /// `$Event.Start`
    Start(&'r Event),
    /// `$Event.End`
    End(&'r Event),
    /// `$Interview.Start`: the first event's start.
    InterviewStart(&'r Event),
}

/// Binds `token` in `invite`. `single_value` says the token stands where one value must go (a
/// subject, an HTML attribute: see [`Context::single_value`]).
pub fn bind<'r>(
    request: &'r Request,
    invite: &Invitation<'r>,
    token: Token,
    single_value: bool,
) -> Result<Binding<'r>, FindingKind> {
    let iv = request.interview();
    let Some(first) = iv.events.iter().min_by_key(|e| e.start) else {
        return Err(FindingKind::NoEvents { token });
    };
    let one_event = || match invite.covers.as_slice() {
        [event] => Ok(*event),
        many => Err(FindingKind::EventTokenAmbiguous {
            token,
            events: many.len(),
            single_value,
        }),
    };
    Ok(match token {
        Token::CandidateName => Binding::CandidateName,
        Token::CandidateFirstName => Binding::CandidateFirstName,
        Token::EventTopic => Binding::Topic(one_event()?),
        Token::EventStart => Binding::Start(one_event()?),
        Token::EventEnd => Binding::End(one_event()?),
        Token::InterviewStart => Binding::InterviewStart(first),
        link => {
            let Some((scope, product)) = link.link() else {
                unreachable!("every other token is matched above")
            };
            let template_for = |event: Option<&Event>| -> Result<Option<String>, FindingKind> {
                if product == Product::Live {
                    return Ok(None);
                }
                event
                    .and_then(|e| e.codesignal.template_id.clone())
                    .or_else(|| iv.codesignal.template_id.clone())
                    .map(Some)
                    .ok_or_else(|| FindingKind::MissingTemplateId {
                        token,
                        event_id: event.map(|e| e.id.clone()),
                    })
            };
            let key = |event: Option<&'r Event>| -> Result<_, FindingKind> {
                Ok((
                    event,
                    MintKey {
                        scope,
                        interview_id: iv.id.clone(),
                        event_id: event.map(|e| e.id.clone()),
                        product,
                        template_id: template_for(event)?,
                    },
                ))
            };
            match scope {
                Scope::Interview => Binding::Links {
                    keys: vec![key(None)?],
                    list: false,
                },
                Scope::Event if invite.covers.len() == 1 || !single_value => Binding::Links {
                    keys: invite
                        .covers
                        .iter()
                        .map(|e| key(Some(e)))
                        .collect::<Result<_, _>>()?,
                    list: invite.covers.len() > 1,
                },
                Scope::Event => {
                    return Err(FindingKind::EventTokenAmbiguous {
                        token,
                        events: invite.covers.len(),
                        single_value,
                    });
                }
            }
        }
    })
}

/// One token occurrence in one invite, bound to what it means there.
#[derive(Debug, Clone)]
pub struct Occurrence<'r> {
    /// The template field it is in.
    pub field: Field,
    /// The token.
    pub token: Token,
    /// Where it is in the field's text.
    pub span: Range<usize>,
    /// Where it stands, and so how its value is written.
    pub context: Context,
    /// What it means in this invite, or why it cannot be resolved there.
    pub binding: Result<Binding<'r>, FindingKind>,
}

/// A piece of one template field of one invite: text as written, or a bound token.
#[derive(Debug, Clone)]
pub enum Part<'r, 't> {
    /// Text between tokens, written as is.
    Text(&'t str),
    /// A token, bound.
    Token(Occurrence<'r>),
}

/// One invite with its templates: the one walk over its fields and tokens that both the planner
/// and the renderer follow, so a token means the same to both (a session is never minted for an
/// invite that then cannot be rendered, nor an invite rendered with a link never planned).
#[derive(Debug, Clone)]
pub struct InviteWalk<'r, 't> {
    /// Who gets the invite, and which events it covers.
    pub invite: Invitation<'r>,
    /// Its templates.
    pub templates: &'t InviteTemplates<'t>,
}

impl<'r, 't> InviteWalk<'r, 't> {
    /// The subject's (`subject`) or the body's pieces, in order, every token bound.
    pub fn parts<'a>(
        &'a self,
        request: &'r Request,
        subject: bool,
    ) -> impl Iterator<Item = Part<'r, 'a>> + 'a {
        let (template, contexts) = self.templates.with_contexts(subject);
        let [subject_field, body_field] = self.invite.role.fields();
        let field = if subject { subject_field } else { body_field };
        let mut contexts = contexts.iter().copied();
        template.pieces().iter().map(move |piece| match piece {
            Piece::Text(range) => Part::Text(template.source().get(range.clone()).unwrap_or("")),
            Piece::Token { token, span } => {
                // One context per token, by construction (`TemplateSet::parse`). Were one
                // missing, the strictest context (one value, HTML-escaped) is the safe guess.
                let context = contexts.next().unwrap_or(Context::HtmlAttribute);
                Part::Token(Occurrence {
                    field,
                    token: *token,
                    span: span.clone(),
                    context,
                    binding: bind(request, &self.invite, *token, context.single_value()),
                })
            }
        })
    }

    /// Every token of the subject, then of the body, bound.
    pub fn occurrences<'a>(
        &'a self,
        request: &'r Request,
    ) -> impl Iterator<Item = Occurrence<'r>> + 'a {
        [true, false]
            .into_iter()
            .flat_map(move |subject| self.parts(request, subject))
            .filter_map(|part| match part {
                Part::Token(o) => Some(o),
                Part::Text(_) => None,
            })
    }
}

/// Every invite of the request that has a template ([`invitations`]), with its templates.
pub fn invites<'r, 't>(
    request: &'r Request,
    templates: &'t TemplateSet<'t>,
) -> impl Iterator<Item = InviteWalk<'r, 't>> {
    invitations(request, templates)
        .into_iter()
        .filter_map(|invite| {
            Some(InviteWalk {
                templates: templates.of(invite.role)?,
                invite,
            })
        })
}

/// Findings of tokens that cannot be bound: each once, in field and text order.
#[derive(Debug, Default)]
pub(crate) struct Unbound(Vec<Located>);

impl Unbound {
    /// Notes the finding of an occurrence whose binding failed.
    pub(crate) fn push(&mut self, field: Field, span: Range<usize>, kind: FindingKind) {
        let finding = Finding { span, kind };
        if !self
            .0
            .iter()
            .any(|l| l.field == field && l.finding == finding)
        {
            self.0.push(Located { field, finding });
        }
    }

    /// The findings, sorted; empty if every token was bound.
    pub(crate) fn into_sorted(mut self) -> Vec<Located> {
        self.0.sort_by_key(|l| (l.field, l.finding.span.start));
        self.0
    }
}

impl Plan {
    /// Plans the mints of a request whose templates lexed. Fails with every token that cannot
    /// be bound (an `$Event` value in an invite covering several events, a template link without
    /// a template id).
    pub fn new(request: &Request, templates: &TemplateSet<'_>) -> Result<Plan, Vec<Located>> {
        let iv = request.interview();
        let last_end = iv.events.iter().map(|e| e.end).max();
        let mut index: HashMap<MintKey, usize> = HashMap::new();
        let mut mints: Vec<PlannedMint> = Vec::new();
        let mut unbound = Unbound::default();
        let walks: Vec<InviteWalk<'_, '_>> = invites(request, templates).collect();
        for o in walks.iter().flat_map(|w| w.occurrences(request)) {
            let keys = match o.binding {
                Ok(Binding::Links { keys, .. }) => keys,
                Ok(_) => continue,
                Err(kind) => {
                    unbound.push(o.field, o.span, kind);
                    continue;
                }
            };
            for (event, key) in keys {
                // `bind` binds nothing in a request without events.
                let Some(serves_until) = event.map(|e| e.end).or(last_end) else {
                    continue;
                };
                let i = *index.entry(key.clone()).or_insert_with(|| {
                    mints.push(PlannedMint {
                        serves_until,
                        interviewer_id: event.and_then(|e| {
                            e.interviewers
                                .iter()
                                .find_map(|p| p.codesignal_user_id.clone())
                        }),
                        candidate_name: iv.candidate.name.clone(),
                        candidate_email: iv.candidate.email.clone(),
                        occurrences: 0,
                        key,
                    });
                    mints.len() - 1
                });
                mints[i].occurrences += 1;
            }
        }
        let findings = unbound.into_sorted();
        if !findings.is_empty() {
            return Err(findings);
        }
        let position = |id: &Option<String>| {
            id.as_ref()
                .map(|id| iv.events.iter().position(|e| &e.id == id))
        };
        mints.sort_by_key(|m| {
            (
                m.key.scope,
                position(&m.key.event_id),
                m.key.product,
                m.key.template_id.clone(),
            )
        });
        Ok(Plan { mints })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(candidate_body: &str, interviewer_body: &str) -> Request {
        let json = serde_json::json!({
            "interview": {
                "id": "int-1",
                "candidate": {"name": "Ada", "email": "ada@example.org"},
                "codesignal": {"template_id": "tpl-i"},
                "events": [
                    {"id": "b", "topic": "B", "start": "2027-03-02T11:00:00Z", "end": "2027-03-02T12:00:00Z",
                     "interviewers": [{"name": "P", "email": "p@example.com"},
                                      {"name": "Q", "email": "q@example.com", "codesignal_user_id": "u-q"}]},
                    {"id": "a", "topic": "A", "start": "2027-03-02T09:00:00Z", "end": "2027-03-02T10:00:00Z",
                     "interviewers": [{"name": "R", "email": "r@example.com", "codesignal_user_id": "u-r"}],
                     "codesignal": {"template_id": "tpl-a"}}
                ]
            },
            "templates": {
                "candidate": {"subject": "s", "body": candidate_body},
                "interviewer": {"subject": "s", "body": interviewer_body}
            }
        });
        Request::from_json(&json.to_string()).unwrap()
    }

    fn plan_of(r: &Request) -> Result<Plan, Vec<Located>> {
        Plan::new(r, &TemplateSet::parse(r).unwrap())
    }

    #[test]
    fn one_mint_per_session_however_many_invites_show_it() {
        let r = request(
            "$Interview.CodeSignal.Live.Link $Event.CodeSignal.Live.Link",
            "$Interview.CodeSignal.Live.Link $Event.CodeSignal.Live.Link $Event.CodeSignal.Live.Link",
        );
        let plan = plan_of(&r).unwrap();
        let summary: Vec<_> = plan
            .mints
            .iter()
            .map(|m| (m.key.scope, m.key.event_id.as_deref(), m.occurrences))
            .collect();
        // Interview: candidate 1 + three interviewer invites. Event `b` (listed first in the
        // request): candidate 1 + two interviewers x 2. Event `a`: candidate 1 + one x 2.
        assert_eq!(
            summary,
            [
                (Scope::Interview, None, 4),
                (Scope::Event, Some("b"), 5),
                (Scope::Event, Some("a"), 3),
            ]
        );
    }

    #[test]
    fn mints_carry_what_the_minter_needs() {
        let r = request(
            "",
            "$Event.CodeSignal.Template.Link $Interview.CodeSignal.Live.Link",
        );
        let plan = plan_of(&r).unwrap();
        let interview = &plan.mints[0];
        assert_eq!(interview.key.event_id, None);
        assert_eq!(interview.interviewer_id, None);
        assert_eq!(
            interview.serves_until.to_rfc3339(),
            "2027-03-02T12:00:00+00:00"
        );
        let b = &plan.mints[1];
        assert_eq!(b.key.event_id.as_deref(), Some("b"));
        // The first interviewer without an id is skipped.
        assert_eq!(b.interviewer_id.as_deref(), Some("u-q"));
        // No template of its own: the interview's.
        assert_eq!(b.key.template_id.as_deref(), Some("tpl-i"));
        assert_eq!(b.serves_until.to_rfc3339(), "2027-03-02T12:00:00+00:00");
        let a = &plan.mints[2];
        assert_eq!(a.key.template_id.as_deref(), Some("tpl-a"));
        assert_eq!(a.interviewer_id.as_deref(), Some("u-r"));
        assert_eq!(a.candidate_email, "ada@example.org");
    }

    #[test]
    fn a_request_without_events_is_findings_not_a_panic() {
        // `Request::from_json` refuses it; a request built around its checks reached
        // `.expect("a checked request has events")` here.
        let mut r = request(
            "$Interview.Start $Interview.CodeSignal.Live.Link $Event.CodeSignal.Live.Link",
            "",
        );
        r.interview_mut().events.clear();
        let found = plan_of(&r).unwrap_err();
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(
            found
                .iter()
                .all(|l| matches!(l.finding.kind, FindingKind::NoEvents { .. })),
            "{found:?}"
        );
        let templates = TemplateSet::parse(&r).unwrap();
        assert!(matches!(
            crate::render::render(&r, &templates, &[]),
            Err(crate::render::RenderError::Unbound(found)) if found.len() == 3
        ));
    }

    #[test]
    fn unbindable_tokens_are_each_reported_once() {
        let r = request("$Event.Start and $Event.Start", "$Event.Topic");
        let found = plan_of(&r).unwrap_err();
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found.iter().all(|l| l.field == Field::CandidateBody));
        assert!(matches!(
            found[0].finding.kind,
            FindingKind::EventTokenAmbiguous {
                events: 2,
                single_value: false,
                ..
            }
        ));
    }
}
