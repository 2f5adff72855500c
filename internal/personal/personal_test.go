package personal

import "testing"

func TestKey(t *testing.T) {
	personalKeys := []string{
		// the names certflow's data model uses, in several conventions
		"email", "Email", "EMAIL", "e-mail",
		"mobile_phone_number", "mobilePhoneNumber", "MobilePhoneNumber",
		"phone", "phone_number", "PhoneNumber",
		"given_name", "givenName", "Given-Name",
		"surname_1", "surname_2", "Surname1",
		"name", "Name", "last_name", "lastName", "fullname", "full_name", "FullName",
		"serial_number", "serialNumber", "document_number", "documentNumber",
		"docId", "doc_id", "contact", "contacts", "Contacts",
		"applicant", "Applicant", "id_document_number", "IDDocumentNumber",
		// any key containing email, phone, surname or document_number
		"applicant_email", "notifyEmails", "phone2", "second_surname", "holderDocumentNumber",
	}
	notPersonal := []string{
		"WorkflowID", "RunID", "ActivityType", "Attempt", "Error", "StackTrace",
		"Namespace", "TaskQueue", "WorkerID", "UpdateName", "WorkflowType",
		"pk", "status", "elapsed", "provider", "sn", "scratchcard", "request_id",
		"level", "time", "message", "caller", "names_count", "document", "",
	}
	for _, k := range personalKeys {
		if !Key(k) || !Key([]byte(k)) {
			t.Errorf("Key(%q) = false, want true", k)
		}
	}
	for _, k := range notPersonal {
		if Key(k) || Key([]byte(k)) {
			t.Errorf("Key(%q) = true, want false", k)
		}
	}
}
