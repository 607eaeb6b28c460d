"""An unmodified SMART on FHIR client (Python `fhirclient`, from PyPI) makes a standalone launch
against a running portal: it finds the endpoints in the CapabilityStatement, sends the person to
the authorization endpoint with PKCE, and exchanges the code. The person's part is played here
with plain HTTP, as a browser would: the sign-in, second-factor and consent pages are filled in
as forms (choosing the record named PATIENT_NAME). The client then reads the patient's lab
Observations, every page, and prints their ids, one per line.

Inputs (environment): PORTAL_URL, CLIENT_ID, REDIRECT_URI, EMAIL, PASSWORD, TOTP_CODE,
PATIENT_NAME.
"""

import os
import re
import sys

import requests
from fhirclient import client
from fhirclient.models.observation import Observation

LAB = "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"


def csrf(html):
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    if found is None:
        sys.exit("no CSRF field on the page")
    return found.group(1)


def expect_redirect(response, to):
    where = response.headers.get("location", "")
    if response.status_code != 303 or not where.startswith(to):
        sys.exit(f"expected a redirect to {to}, got {response.status_code} {where}")
    return where


def main():
    base = os.environ["PORTAL_URL"]
    smart = client.FHIRClient(
        settings={
            "app_id": os.environ["CLIENT_ID"],
            "api_base": base + "/fhir",
            "redirect_uri": os.environ["REDIRECT_URI"],
            "scope": "launch/patient openid fhirUser patient/*.read",
        }
    )
    browser = requests.Session()
    # The app sends the person to the portal; not signed in, they sign in first.
    expect_redirect(browser.get(smart.authorize_url, allow_redirects=False), "/signin")
    page = browser.get(base + "/signin").text
    answer = browser.post(
        base + "/signin",
        data={"email": os.environ["EMAIL"], "password": os.environ["PASSWORD"], "csrf": csrf(page)},
        allow_redirects=False,
    )
    expect_redirect(answer, "/signin/second-factor")
    page = browser.get(base + "/signin/second-factor").text
    answer = browser.post(
        base + "/signin/second-factor",
        data={"code": os.environ["TOTP_CODE"], "csrf": csrf(page)},
        allow_redirects=False,
    )
    expect_redirect(answer, "/oauth/consent")
    page = browser.get(base + "/oauth/consent").text
    name = re.escape(os.environ["PATIENT_NAME"])
    record = re.search(
        r'name="patient" value="([^"]+)"> <label for="[^"]+">' + name, page
    )
    if record is None:
        sys.exit("the consent page does not offer the record")
    kinds = re.findall(r'name="type" value="([^"]+)"', page)
    form = [("csrf", csrf(page)), ("decision", "allow"), ("patient", record.group(1))]
    form += [("type", kind) for kind in kinds]
    answer = browser.post(base + "/oauth/consent", data=form, allow_redirects=False)
    callback = expect_redirect(answer, os.environ["REDIRECT_URI"])
    # Back in the app: the client checks the state and exchanges the code.
    smart.handle_callback(callback)
    if not smart.ready or smart.patient_id != record.group(1):
        sys.exit("the launch did not give the chosen patient")
    search = Observation.where(struct={"patient": smart.patient_id, "category": LAB})
    for observation in search.perform_resources_iter(smart.server):
        print(observation.id)


if __name__ == "__main__":
    main()
