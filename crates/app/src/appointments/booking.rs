//! Finding an open time and booking it: the finder (kinds of visit this viewer may book, the
//! open times of a page of days), booking and moving in one transaction with the database's
//! rule against double booking, and the nearest free times for a loser of a race.

use super::*;

/// A visit type with whether the viewer may book it for this patient.
#[derive(Clone, Debug)]
pub struct Offered {
    /// The kind of visit.
    pub visit_type: VisitType,
    /// `Err`: why the patient's side may not book it itself.
    pub bookable: std::result::Result<(), NotBookable>,
}

/// One open time as the finder offers it.
#[derive(Clone, Debug)]
pub struct Opening {
    /// The time.
    pub time: OpenTime,
    /// The clinician's name.
    pub clinician_name: String,
    /// The location's name.
    pub location_name: String,
}

impl Opening {
    /// The form's value naming this time: `{clinician}|{location}|{unix seconds}`.
    pub fn slot(&self) -> String {
        slot_value(&self.time)
    }
}

/// The form's value naming an open time.
pub fn slot_value(time: &OpenTime) -> String {
    format!(
        "{}|{}|{}",
        time.clinician,
        time.location,
        time.start.as_second()
    )
}

/// A chosen time as the booking form sent it, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    /// With whom.
    pub clinician: UserId,
    /// Where.
    pub location: LocationId,
    /// When.
    pub start: Timestamp,
}

impl Slot {
    /// Reads the form's value ([`slot_value`]).
    pub fn parse(raw: &str) -> std::result::Result<Slot, FieldErrors> {
        let bad = || FieldErrors::single("slot", "Choose one of the times offered.");
        let mut parts = raw.trim().split('|');
        let (Some(c), Some(l), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let clinician = c.parse().map_err(|_| bad())?;
        let location = l.parse().map_err(|_| bad())?;
        let start = s
            .parse::<i64>()
            .ok()
            .and_then(|s| Timestamp::from_second(s).ok())
            .filter(|t| schedule::on_unit(*t))
            .ok_or_else(bad)?;
        Ok(Slot {
            clinician,
            location,
            start,
        })
    }
}

/// What the finder was asked for (query parameters; none is health data).
#[derive(Clone, Debug, Default)]
pub struct FindQuery {
    /// The kind of visit.
    pub visit_type: Option<VisitTypeId>,
    /// Only this clinician.
    pub clinician: Option<UserId>,
    /// Only this location.
    pub location: Option<LocationId>,
    /// From this day on (clinic calendar).
    pub from: Option<Date>,
}

/// The finder page: the kinds of visit, and the open times for the chosen one.
#[derive(Debug)]
pub struct Finder {
    /// The patient (header).
    pub patient: PatientRow,
    /// The access decision.
    pub access: PatientAccess,
    /// Every offered kind of visit, with whether this viewer may book it for the patient.
    pub visit_types: Vec<Offered>,
    /// The chosen kind, when it may be booked.
    pub chosen: Option<VisitType>,
    /// Why the chosen kind may not be booked, if so.
    pub refused: Option<NotBookable>,
    /// The clinicians with hours.
    pub clinicians: Vec<Scheduled>,
    /// The locations.
    pub locations: Vec<Location>,
    /// The query.
    pub query: FindQuery,
    /// The first day shown.
    pub from: Date,
    /// The open times, earliest first.
    pub openings: Vec<Opening>,
    /// The first day of the next page, when the horizon reaches past this one.
    pub later: Option<Date>,
    /// The first day of the previous page, when there is one.
    pub earlier: Option<Date>,
    /// Whether one day held more open times than a page shows (only its first are listed:
    /// choosing a clinician or location shows the rest).
    pub crowded: bool,
    /// The form's one-time key.
    pub book_key: String,
    /// The appointment being moved, if this finder moves one.
    pub moving: Option<Appointment>,
    /// The clinic's appointment settings.
    pub settings: AppointmentSettings,
    /// Whether the viewer books for the clinic (no notice or horizon; every kind of visit).
    pub by_clinic: bool,
}

/// What a booking form sent.
#[derive(Clone, Debug, Default)]
pub struct BookForm {
    /// The kind of visit's id.
    pub visit_type: String,
    /// The chosen time ([`slot_value`]).
    pub slot: String,
    /// Why, in the patient's words.
    pub reason: String,
    /// The form's one-time key.
    pub book_key: String,
    /// The appointment this booking moves, if any.
    pub moving: Option<AppointmentId>,
    /// The earlier-time offer this move accepts, if any.
    pub offer: Option<portal_domain::OfferId>,
}

/// Why a booking did not happen.
#[derive(Debug)]
pub enum NotBooked {
    /// Someone else booked the time first; these are the nearest free ones.
    Taken(Vec<Opening>),
    /// Anything else.
    Failed(Error),
}

impl From<Error> for NotBooked {
    fn from(e: Error) -> Self {
        NotBooked::Failed(e)
    }
}

impl From<portal_store::Error> for NotBooked {
    fn from(e: portal_store::Error) -> Self {
        NotBooked::Failed(e.into())
    }
}

/// The form's one-time key: 32 hex digits from the CSPRNG, so a form sent twice books once.
pub fn new_book_key() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

fn check_book_key(key: &str) -> Result<()> {
    if key.len() == 32 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(Error::field(
            "book_key",
            "This form has expired. Reload the page and choose a time again.",
        ))
    }
}

impl Appointments {
    /// What the booking rules know of the patient.
    pub(super) async fn facts(
        &self,
        tx: &mut Tx,
        access: &PatientAccess,
        row: &PatientRow,
    ) -> Result<PatientFacts> {
        let today = self
            .now()
            .to_zoned_datetime(self.config().appointments.zone.clone())
            .date();
        Ok(PatientFacts {
            established: store::established(tx, access, self.now()).await?,
            age_years: age_on(&row.birth_date, today),
            deceased: row.deceased.is_some(),
        })
    }

    /// The finder: kinds of visit, and the open times for the chosen one over
    /// [`DAYS_PER_PAGE`] days from `query.from` (or today). `moving`: the appointment a chosen
    /// time would replace.
    pub async fn find(
        &self,
        actor: &Actor,
        patient: PatientId,
        query: FindQuery,
        moving: Option<AppointmentId>,
    ) -> Result<Finder> {
        let (access, mut tx) = self
            .read_patient(actor, patient, Action::ManageAppointments)
            .await?;
        let row = patients::get(&mut tx, &access)
            .await?
            .ok_or(Error::NotFound)?;
        let by_clinic = by_clinic(actor);
        let now = self.now();
        let settings = self.settings_in(&mut tx).await?;
        let moving = match moving {
            Some(id) => {
                let found = store::find(&mut tx, &access, id)
                    .await?
                    .ok_or(Error::NotFound)?;
                check_changeable(&found, &settings, now, by_clinic)?;
                Some(found)
            }
            None => None,
        };
        let facts = self.facts(&mut tx, &access, &row).await?;
        let visit_types: Vec<Offered> = schedules::visit_types(&mut tx)
            .await?
            .into_iter()
            .filter(|v| v.active)
            .map(|v| Offered {
                bookable: if by_clinic {
                    Ok(())
                } else {
                    v.self_booking(facts)
                },
                visit_type: v,
            })
            .collect();
        // Moving keeps the kind of visit.
        let wanted = moving.as_ref().map(|m| m.visit_type).or(query.visit_type);
        let picked = wanted.and_then(|id| visit_types.iter().find(|o| o.visit_type.id == id));
        let refused = picked.and_then(|o| o.bookable.err());
        let chosen = picked
            .filter(|o| o.bookable.is_ok())
            .map(|o| o.visit_type.clone());
        let clinicians = schedules::scheduled_clinicians(&mut tx).await?;
        let locations = schedules::locations(&mut tx).await?;
        let today = now.to_zoned_datetime(settings.zone.clone()).date();
        let from = query.from.filter(|d| *d > today).unwrap_or(today);
        let mut openings = Vec::new();
        let mut later = None;
        let mut cut = None;
        let mut crowded = false;
        if let Some(visit_type) = &chosen {
            let (window_from, window_until, horizon) =
                window(visit_type, &settings, from, now, by_clinic);
            if window_from <= window_until {
                let search = Search {
                    visit_type,
                    clinician: query.clinician,
                    location: query.location,
                    from: window_from,
                    until: window_until,
                };
                let mut times = self.page_times(&mut tx, &search, &settings).await?;
                // A full page ends inside its days: it shows whole days, and the next page
                // starts with the day it cut.
                if times.len() >= TIMES_PER_PAGE {
                    let day_of = |t: &OpenTime| settings.local(t.start).date();
                    if let (Some(first), Some(last)) = (times.first(), times.last()) {
                        let (first, last) = (day_of(first), day_of(last));
                        if last > first {
                            times.retain(|t| day_of(t) < last);
                            cut = Some(last);
                        } else {
                            cut = last.tomorrow().ok();
                            crowded = true;
                        }
                    }
                }
                openings = named(times, &clinicians, &locations);
            }
            let next = cut.or_else(|| from.checked_add(jiff::Span::new().days(DAYS_PER_PAGE)).ok());
            later = next.filter(|d| {
                d.to_zoned_datetime(settings.zone.clone())
                    .is_ok_and(|z| z.timestamp() <= horizon)
            });
        }
        drop(tx);
        let mut event = self.patient_event(actor, &access, AuditAction::Read, "Slot");
        event.detail = "open times".into();
        self.audit_alone(&event).await?;
        let earlier = (from > today).then(|| {
            from.checked_sub(jiff::Span::new().days(DAYS_PER_PAGE))
                .ok()
                .filter(|d| *d > today)
                .unwrap_or(today)
        });
        Ok(Finder {
            patient: row,
            access,
            visit_types,
            chosen,
            refused,
            clinicians,
            locations,
            query: FindQuery {
                visit_type: wanted,
                ..query
            },
            from,
            openings,
            later,
            earlier,
            crowded,
            book_key: new_book_key(),
            moving,
            settings,
            by_clinic,
        })
    }

    /// The open times of a search, read in `tx`, at most a page of them.
    pub(super) async fn page_times(
        &self,
        tx: &mut Tx,
        search: &Search<'_>,
        settings: &AppointmentSettings,
    ) -> Result<Vec<OpenTime>> {
        self.search(tx, search, settings, TIMES_PER_PAGE).await
    }

    /// The open times of a search, read in `tx`: at most `limit`.
    pub(super) async fn search(
        &self,
        tx: &mut Tx,
        search: &Search<'_>,
        settings: &AppointmentSettings,
        limit: usize,
    ) -> Result<Vec<OpenTime>> {
        let hours = schedules::hours(tx, search.clinician).await?;
        let reach = |until: Timestamp| {
            until
                .checked_add(search.visit_type.length())
                .unwrap_or(until)
        };
        let closures = schedules::closures(tx, search.from, reach(search.until)).await?;
        // A page fills from the first few days of a busy clinic: read the booked time a few
        // days at a time, and stop once the page is full (a search with no limit reads all
        // of it at once).
        let mut found = Vec::new();
        let mut from = search.from;
        while from <= search.until && found.len() < limit {
            let until = if limit == usize::MAX {
                search.until
            } else {
                from.checked_add(SEARCH_STEP)
                    .unwrap_or(search.until)
                    .min(search.until)
            };
            let taken = schedules::taken(tx, search.clinician, from, reach(until)).await?;
            let part = Search {
                from,
                until,
                ..search.clone()
            };
            found.extend(schedule::open_times(
                &part,
                &hours,
                &closures,
                &taken,
                &settings.zone,
                limit - found.len(),
            ));
            if until >= search.until {
                break;
            }
            // Starts are whole seconds: the next part begins right after this one.
            from = until
                .checked_add(SignedDuration::from_secs(1))
                .unwrap_or(search.until);
        }
        Ok(found)
    }

    /// Books a visit (or moves one: `form.moving`). The same form sent twice books once; a
    /// time someone else booked first is [`NotBooked::Taken`] with the nearest free times; a
    /// refused form changes nothing.
    pub async fn book(
        &self,
        actor: &Actor,
        patient: PatientId,
        form: &BookForm,
    ) -> std::result::Result<AppointmentId, NotBooked> {
        let (access, mut tx) = self
            .open_patient(actor, patient, Action::ManageAppointments)
            .await?;
        if let Some(id) = store::by_key(&mut tx, &access, &form.book_key).await? {
            return Ok(id);
        }
        check_book_key(&form.book_key)?;
        let mut errors = FieldErrors::new();
        let slot = errors.take("slot", Slot::parse(&form.slot).map_err(|e| e.to_string()));
        // A moved visit keeps its reason; the form asks for one only for a new booking.
        let reason = match form.moving {
            Some(_) => Some(Reason::from_stored(String::new())),
            None => errors.take("reason", Reason::parse(&form.reason)),
        };
        let visit_type_id = errors.take(
            "visit_type",
            form.visit_type
                .trim()
                .parse::<VisitTypeId>()
                .map_err(|_| "Choose a kind of visit."),
        );
        let (Some(slot), Some(reason), Some(visit_type_id)) = (slot, reason, visit_type_id) else {
            return Err(Error::Invalid(errors).into());
        };
        let by_clinic = by_clinic(actor);
        let now = self.now();
        let settings = self.settings_in(&mut tx).await?;
        let row = patients::get(&mut tx, &access)
            .await?
            .ok_or(Error::NotFound)?;
        let visit_type = schedules::visit_type(&mut tx, visit_type_id)
            .await?
            .filter(|v| v.active)
            .ok_or_else(|| Error::field("visit_type", "Choose a kind of visit."))?;
        if !by_clinic {
            let facts = self.facts(&mut tx, &access, &row).await?;
            visit_type
                .self_booking(facts)
                .map_err(|why| Error::field("visit_type", why.message()))?;
        }
        let moving = match form.moving {
            Some(id) => {
                let old = store::find(&mut tx, &access, id)
                    .await?
                    .ok_or(Error::NotFound)?;
                // Taking an earlier time offered is never too late: the time it frees is
                // offered in turn.
                check_changeable(&old, &settings, now, by_clinic || form.offer.is_some())?;
                if old.visit_type != visit_type.id {
                    return Err(Error::field(
                        "visit_type",
                        "A moved visit keeps its kind; cancel it and book another instead.",
                    )
                    .into());
                }
                Some(old)
            }
            None => None,
        };
        let reason = moving.as_ref().map_or(reason, |old| old.reason.clone());
        // The time must be one the schedule offers this viewer now.
        let end = slot
            .start
            .checked_add(visit_type.length())
            .map_err(|_| Error::field("slot", "Choose one of the times offered."))?;
        if !visit_type.bookable_at(slot.start, now, by_clinic) {
            return Err(Error::field(
                "slot",
                "This time can no longer be booked online. Choose another.",
            )
            .into());
        }
        let id = AppointmentId::from_uuid(uuid::Uuid::now_v7());
        let booked_by = actor.principal.actor_id();
        if let Some(old) = &moving {
            // Free the old time first: a move may overlap it.
            store::end(
                &mut tx,
                &access,
                old.id,
                Status::Moved,
                None,
                &booked_by,
                now,
            )
            .await?;
        }
        let offered = {
            let search = Search {
                visit_type: &visit_type,
                clinician: Some(slot.clinician),
                location: Some(slot.location),
                from: slot.start,
                until: slot.start,
            };
            let hours = schedules::hours(&mut tx, Some(slot.clinician)).await?;
            let closures = schedules::closures(&mut tx, slot.start, end).await?;
            schedule::open_times(
                &search,
                &hours,
                &closures,
                &schedule::Taken::default(),
                &settings.zone,
                1,
            )
        };
        if offered.first().is_none_or(|o| o.start != slot.start) {
            return Err(Error::field(
                "slot",
                "This time is not in the clinic's schedule. Choose one of the times offered.",
            )
            .into());
        }
        let booked = store::book(
            &mut tx,
            &access,
            &NewAppointment {
                id,
                clinician: slot.clinician,
                location: slot.location,
                visit_type: visit_type.id,
                start: slot.start,
                end,
                reason: &reason,
                booked_by: &booked_by,
                book_key: &form.book_key,
                moved_from: moving.as_ref().map(|m| m.id),
            },
            now,
        )
        .await;
        match booked {
            Ok(()) => {}
            Err(portal_store::Error::Conflict(TIME_TAKEN)) => {
                drop(tx);
                let nearest = self
                    .alternatives(&visit_type, &slot, &settings, by_clinic)
                    .await?;
                return Err(NotBooked::Taken(nearest));
            }
            Err(portal_store::Error::Conflict(KEY_USED)) => {
                // The same form, sent at the same moment, was booked by the other request.
                drop(tx);
                let (access, mut tx) = self
                    .read_patient(actor, patient, Action::ManageAppointments)
                    .await?;
                return store::by_key(&mut tx, &access, &form.book_key)
                    .await?
                    .ok_or_else(|| NotBooked::Failed(Error::NotFound));
            }
            Err(e) => return Err(e.into()),
        }
        if let Some(old) = &moving {
            store::link_move(&mut tx, &access, old.id, id).await?;
            if let Some(offer) = form.offer {
                self.settle_offer(
                    &mut tx,
                    &access,
                    offer,
                    old,
                    (slot.start, end, slot.clinician),
                )
                .await?;
            } else {
                portal_store::offers::leave(&mut tx, &access, old.id, now).await?;
            }
            self.offer_freed(&mut tx, &offers::freed_by(old), &settings)
                .await?;
        }
        let appointment = store::find(&mut tx, &access, id)
            .await?
            .ok_or(Error::NotFound)?;
        self.tell_patient_side(&mut tx, &access, &appointment, &settings, moving.is_some())
            .await?;
        let mut event = self.patient_event(actor, &access, AuditAction::Create, "Appointment");
        event.resource_id = Some(id.to_string());
        event.detail = match &moving {
            Some(old) => format!("moved appointment {} to a new time", old.id),
            None => "booked".into(),
        };
        self.audit(&mut tx, &event).await?;
        commit(tx).await?;
        self.mail_wakeup().notify_one();
        Ok(id)
    }

    /// The free times nearest to a slot just taken, for the same kind of visit at any
    /// clinician and location the viewer could book.
    pub(super) async fn alternatives(
        &self,
        visit_type: &VisitType,
        slot: &Slot,
        settings: &AppointmentSettings,
        by_clinic: bool,
    ) -> Result<Vec<Opening>> {
        let now = self.now();
        let from = if by_clinic {
            now
        } else {
            visit_type.earliest(now)
        };
        let until = visit_type.latest(now).min(
            slot.start
                .checked_add(SignedDuration::from_hours(24 * DAYS_PER_PAGE))
                .unwrap_or(slot.start),
        );
        let from = from.max(
            slot.start
                .checked_sub(SignedDuration::from_hours(24 * DAYS_PER_PAGE))
                .unwrap_or(from),
        );
        let mut tx = self.store().begin_read().await?;
        let search = Search {
            visit_type,
            clinician: None,
            location: None,
            from,
            until,
        };
        let times = self.page_times(&mut tx, &search, settings).await?;
        let clinicians = schedules::scheduled_clinicians(&mut tx).await?;
        let locations = schedules::locations(&mut tx).await?;
        drop(tx);
        let near = schedule::nearest(times, slot.start, ALTERNATIVES);
        Ok(named(near, &clinicians, &locations))
    }
}

/// The window of starts a finder page searches: from its first day (no earlier than the
/// notice allows) over [`DAYS_PER_PAGE`] days, no later than the horizon; and the horizon.
fn window(
    visit_type: &VisitType,
    settings: &AppointmentSettings,
    from: Date,
    now: Timestamp,
    by_clinic: bool,
) -> (Timestamp, Timestamp, Timestamp) {
    let day_start = |d: Date| {
        d.to_zoned_datetime(settings.zone.clone())
            .map(|z| z.timestamp())
            .unwrap_or(now)
    };
    let first = day_start(from);
    let last = from
        .checked_add(jiff::Span::new().days(DAYS_PER_PAGE))
        .map(day_start)
        .unwrap_or(first);
    let (earliest, horizon) = if by_clinic {
        (
            now,
            now.checked_add(SignedDuration::from_hours(24 * 366))
                .unwrap_or(now),
        )
    } else {
        (visit_type.earliest(now), visit_type.latest(now))
    };
    let until = last
        .checked_sub(SignedDuration::from_secs(1))
        .unwrap_or(last)
        .min(horizon);
    (first.max(earliest), until, horizon)
}

/// Open times with their clinicians' and locations' names.
fn named(times: Vec<OpenTime>, clinicians: &[Scheduled], locations: &[Location]) -> Vec<Opening> {
    times
        .into_iter()
        .map(|time| Opening {
            clinician_name: clinicians
                .iter()
                .find(|c| c.id == time.clinician)
                .map(|c| c.name.clone())
                .unwrap_or_default(),
            location_name: locations
                .iter()
                .find(|l| l.id == time.location)
                .map(|l| l.name.clone())
                .unwrap_or_default(),
            time,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_reads_back_from_its_form_value() {
        let time = OpenTime {
            start: Timestamp::from_second(1_800_000_000).expect("time"),
            end: Timestamp::from_second(1_800_000_000).expect("time"),
            clinician: UserId::from_uuid(uuid::Uuid::from_u128(1)),
            location: LocationId::from_uuid(uuid::Uuid::from_u128(2)),
        };
        let slot = Slot::parse(&slot_value(&time)).expect("slot");
        assert_eq!(slot.start, time.start);
        assert_eq!(slot.clinician, time.clinician);
        assert_eq!(slot.location, time.location);
        for bad in [
            "",
            "a|b|c",
            "x|y|1|2",
            &format!("{}|{}|1800000001", time.clinician, time.location),
        ] {
            assert!(Slot::parse(bad).is_err(), "{bad}");
        }
    }
}
